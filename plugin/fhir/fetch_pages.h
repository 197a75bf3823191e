/* fetch_pages.h - VAP_FETCH_ALL_PAGES: a FHIR search followed across pages
 * and merged into one Bundle. */
#ifndef VAP_FETCH_PAGES_H
#define VAP_FETCH_PAGES_H

#include <stddef.h>
#include <vap/plugin.h>

struct vap_instance;

#define FETCH_PAGES_DEFAULT 50 /* max_pages when the host gives 0 */

/* The non-negative integer value of name in an encoded query: 1 found, 0 not
 * there, -1 malformed.  Pure. */
int fetch_query_param(const char *query, const char *name, long *value);

/* query with _count and _offset replaced by count/offset, into out (which
 * may be the same buffer as query).  0 or -1 when it does not fit.  Pure. */
int fetch_next_query(const char *query, long count, long offset, char *out, size_t cap);

/* Fetch every page of a GET search (at most max_pages; a merged Bundle that
 * stopped early carries the header X-Vap-Pages-Truncated: 1). */
int fetch_all_pages(struct vap_instance *inst, const vap_call *call, const vap_fetch_request *req,
                    vap_fetch_response **out, vap_error *err);

#endif
