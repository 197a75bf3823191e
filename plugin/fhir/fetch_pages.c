/* fetch_pages.c - following a FHIR search across pages and merging them into
 * one Bundle (VAP_FETCH_ALL_PAGES).
 *
 * The first request is the host's query as given: no paging parameter is
 * added, because some servers answer any _count or _offset with an empty
 * Bundle (OpenEMR 7.0.3 does; without them it returns every match at once).
 * A later page is asked for only when the answer shows the server pages:
 *   - Bundle.link[next] is followed, but only while it stays under
 *     fhir_base (the bearer token is never sent anywhere else);
 *   - without a next link, a Bundle whose "total" exceeds the entries it
 *     carries was cut short: the next page is asked for with _count (the
 *     size of the page the server chose) and _offset (what we already have);
 *   - a host that put _count in its query pages itself: a full page means
 *     "ask again at _offset + _count".
 * A paged request that comes back empty while "total" promised more stops
 * the walk (the Bundle is marked truncated), so paging never turns matches
 * into none.  So does a page that starts with an entry already merged: a
 * server that honours neither _count nor _offset answers every page with
 * the first one, and the walk must not repeat it.
 *
 * "total" in the merged Bundle: the server's count of matches when its
 * first page showed it is one (it differed from that page's entries, or
 * there was only one page); then the merged entries are marked truncated
 * whenever they are not that many (less the host's own _offset).  A total
 * that only counted its own page (OpenEMR writes the page size there) is
 * replaced by the merged count when the walk reached the end, and dropped
 * when it did not: a count the plugin cannot vouch for is never written. */
#include "fhir/fetch_pages.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "fhir/fetch.h"
#include "instance.h"
#include "core/json.h"
#include "core/log.h"
#include "core/object.h"

struct pages_obj {
    vap_fetch_response r;
    char *body;
    vap_header headers[1];
};

/* An entry's identity: its fullUrl, else resourceType/id; "" when neither. */
static void entry_key(json_t *e, char *out, size_t cap)
{
    const char *full = pjson_str(e, "fullUrl");
    json_t *res = json_object_get(e, "resource");
    const char *rt = pjson_str(res, "resourceType"), *id = pjson_str(res, "id");
    if (full != NULL && full[0] != '\0')
        snprintf(out, cap, "%s", full);
    else if (rt != NULL && id != NULL)
        snprintf(out, cap, "%s/%s", rt, id);
    else
        out[0] = '\0';
}

static void pages_dtor(void *obj)
{
    struct pages_obj *o = obj;
    if (o->body) {
        sodium_memzero(o->body, o->r.body_len); /* patient data */
        free(o->body);
    }
}

int fetch_query_param(const char *query, const char *name, long *value)
{
    size_t nl = strlen(name);
    for (const char *p = query; p != NULL && *p;) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            char *end;
            long v = strtol(p + nl + 1, &end, 10);
            if (end == p + nl + 1 || (*end != '\0' && *end != '&') || v < 0)
                return -1;
            *value = v;
            return 1;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return 0;
}

int fetch_next_query(const char *query_in, long count, long offset, char *out, size_t cap)
{
    char query[FETCH_QUERY_MAX + 64];
    size_t o = 0;
    if (strlen(query_in) >= sizeof query)
        return -1;
    memcpy(query, query_in, strlen(query_in) + 1); /* out may alias query_in */
    out[0] = '\0';
    for (const char *p = query; p != NULL && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (!(n >= 8 && strncmp(p, "_offset=", 8) == 0) && !(n >= 7 && strncmp(p, "_count=", 7) == 0) &&
            n > 0) {
            if (o + n + 2 > cap)
                return -1;
            if (o)
                out[o++] = '&';
            memcpy(out + o, p, n);
            o += n;
            out[o] = '\0';
        }
        p = amp ? amp + 1 : NULL;
    }
    int w = snprintf(out + o, cap - o, "%s_count=%ld&_offset=%ld", o ? "&" : "", count, offset);
    return (w < 0 || (size_t)w >= cap - o) ? -1 : 0;
}

int fetch_all_pages(struct vap_instance *inst, const vap_call *call, const vap_fetch_request *req,
                    vap_fetch_response **out, vap_error *err)
{
    const struct config *cfg = &inst->cfg;
    vap_fetch_request page;
    char query[FETCH_QUERY_MAX + 64], path[FETCH_PATH_MAX + 1];
    json_t *merged = NULL, *entries = json_array(), *seen = json_object();
    vap_fetch_response *resp = NULL;
    uint32_t max_pages = VAP_HAS(req, max_pages) && req->max_pages ? req->max_pages
                                                                   : FETCH_PAGES_DEFAULT;
    long count = 0, offset = 0;
    int rc = VAP_OK, truncated = 0;
    uint32_t pages = 0;
    size_t total_bytes = 0;

    if (entries == NULL || seen == NULL) {
        json_decref(entries);
        json_decref(seen);
        return err_set(err, VAP_E_NOMEM, "out of memory");
    }
    if (!VAP_HAS(req, max_pages) || req->path == NULL) {
        json_decref(entries);
        json_decref(seen);
        return err_set(err, VAP_E_INVAL, "fetch: no path (or a request struct too old for "
                                         "all-pages)");
    }
    if ((req->method != NULL && strcmp(req->method, "GET") != 0) ||
        (VAP_HAS(req, flags) && (req->flags & VAP_FETCH_STANDARD_API))) {
        json_decref(entries);
        json_decref(seen);
        return err_set(err, VAP_E_INVAL, "fetch: all-pages is for FHIR searches (GET) only");
    }
    memcpy(&page, req, sizeof page < req->struct_size ? sizeof page : req->struct_size);
    page.struct_size = sizeof page;
    page.flags &= ~VAP_FETCH_ALL_PAGES;
    snprintf(path, sizeof path, "%s", req->path);
    snprintf(query, sizeof query, "%s", req->query ? req->query : "");
    if (fetch_query_param(query, "_count", &count) != 1)
        count = 0; /* no paging asked for: none is added (see the top) */
    if (fetch_query_param(query, "_offset", &offset) != 1)
        offset = 0;
    int we_paged = 0;
    long promised = -1; /* the "total" the first page announced, -1 none */
    long first_offset = offset;
    size_t first_n = 0;

    for (;;) {
        if (pages == max_pages) {
            truncated = 1;
            plog(VAP_LOG_WARN, "fetch: stopped after %u pages (max_pages); the merged Bundle is "
                               "incomplete", pages);
            break;
        }
        page.path = path;
        page.query = query[0] ? query : NULL;
        resp = NULL;
        rc = fetch_do(inst, call, &page, &resp, err);
        if (rc != VAP_OK) {
            *out = resp; /* the failing page's body, for the host to read */
            resp = NULL;
            goto out;
        }
        pages++;
        total_bytes += resp->body_len;
        if (total_bytes > (size_t)cfg->max_response_bytes) {
            rc = err_set(err, VAP_E_PROTOCOL,
                         "fetch: the pages add up to more than max_response_bytes (%ld)",
                         cfg->max_response_bytes);
            goto out;
        }
        char why[96];
        json_t *b = pjson_parse(resp->body, resp->body_len, (size_t)cfg->max_response_bytes, why,
                                sizeof why);
        const char *rt = pjson_str(b, "resourceType");
        if (rt == NULL || strcmp(rt, "Bundle") != 0) {
            json_decref(b);
            if (pages == 1 && merged == NULL) { /* not a search: hand it back as is */
                *out = resp;
                resp = NULL;
                json_decref(entries);
                json_decref(seen);
                return VAP_OK;
            }
            rc = err_set(err, VAP_E_PROTOCOL, "fetch: page %u is not a FHIR Bundle", pages);
            goto out;
        }
        json_t *es = json_object_get(b, "entry");
        size_t n = json_is_array(es) ? json_array_size(es) : 0;
        json_t *tot = json_object_get(b, "total");
        if (pages == 1 && json_is_integer(tot) && json_integer_value(tot) >= 0)
            promised = (long)json_integer_value(tot);
        if (pages == 1)
            first_n = n;
        char key[FETCH_PATH_MAX + 256];
        if (pages > 1 && n > 0) {
            entry_key(json_array_get(es, 0), key, sizeof key);
            if (key[0] != '\0' && json_object_get(seen, key) != NULL) {
                /* The server gave this page already: it ignores the paging
                 * parameters.  Stop with what is merged, marked incomplete. */
                truncated = 1;
                plog(VAP_LOG_WARN, "fetch: page %u starts with an entry of an earlier page "
                                   "(the server ignores _count/_offset); the merged Bundle has "
                                   "%zu entries and is incomplete", pages,
                     json_array_size(entries));
                json_decref(b);
                break;
            }
        }
        for (size_t j = 0; j < n; j++) {
            entry_key(json_array_get(es, j), key, sizeof key);
            if (key[0] != '\0')
                json_object_set_new(seen, key, json_true());
        }
        if (we_paged && n == 0) {
            /* Paged, and the server answered nothing: stop rather than lose
             * what the first answer had (some servers empty paged searches). */
            truncated = 1;
            plog(VAP_LOG_WARN, "fetch: the server announced %ld matches but answered a paged "
                               "request with none; the merged Bundle has %zu",
                 promised, json_array_size(entries));
            json_decref(b);
            break;
        }
        if (json_is_array(es))
            json_array_extend(entries, es);
        if (merged == NULL) {
            merged = json_deep_copy(b);
            json_object_del(merged, "entry");
        }
        /* The next page: the server's link[next], or OpenEMR's offset. */
        const char *next = NULL;
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(b, "link"), i, l)
        {
            const char *rel = pjson_str(l, "relation");
            if (rel && strcmp(rel, "next") == 0)
                next = pjson_str(l, "url");
        }
        if (next != NULL) {
            size_t bl = strlen(cfg->fhir_base);
            if (strncmp(next, cfg->fhir_base, bl) != 0 || next[bl] != '/') {
                json_decref(b);
                rc = err_set(err, VAP_E_PROTOCOL,
                             "fetch: the server's next-page link points outside fhir_base; it "
                             "was not followed (the access token is only sent to fhir_base)");
                goto out;
            }
            const char *rel = next + bl + 1, *q = strchr(rel, '?');
            size_t pl = q ? (size_t)(q - rel) : strlen(rel);
            if (pl > FETCH_PATH_MAX || (q && strlen(q + 1) >= sizeof query)) {
                json_decref(b);
                rc = err_set(err, VAP_E_PROTOCOL, "fetch: the next-page link is too long");
                goto out;
            }
            memcpy(path, rel, pl);
            path[pl] = '\0';
            snprintf(query, sizeof query, "%s", q ? q + 1 : "");
        } else if (count == 0 && pages == 1 && n > 0 && promised > (long)n) {
            /* "total" says there is more than this page: the server pages. */
            count = (long)n;
            offset += count;
            we_paged = 1;
            if (fetch_next_query(query, count, offset, query, sizeof query) != 0) {
                json_decref(b);
                rc = err_set(err, VAP_E_INVAL, "fetch: the query is too long to page");
                goto out;
            }
        } else if ((long)n >= count && count > 0 &&
                   (promised < 0 || (long)json_array_size(entries) < promised ||
                    !we_paged)) {
            if (offset > LONG_MAX - count) { /* the host's _offset: no overflow */
                json_decref(b);
                rc = err_set(err, VAP_E_INVAL, "fetch: the query's _offset is too large to "
                                               "page on; use a smaller _offset");
                goto out;
            }
            offset += count;
            if (fetch_next_query(query, count, offset, query, sizeof query) != 0) {
                json_decref(b);
                rc = err_set(err, VAP_E_INVAL, "fetch: the query is too long to page");
                goto out;
            }
        } else {
            json_decref(b);
            break;
        }
        json_decref(b);
        page.flags = req->flags & ~VAP_FETCH_ALL_PAGES;
        /* Each page is its own request: free the previous one now. */
        obj_release(resp);
        resp = NULL;
    }

    /* What total means here: see the top of this file. */
    size_t have = json_array_size(entries);
    if (promised >= 0 && (promised != (long)first_n || pages == 1)) {
        long want = promised > first_offset ? promised - first_offset : 0;
        if ((long)have != want && !truncated) {
            truncated = 1;
            plog(VAP_LOG_WARN, "fetch: the server announced %ld matches but the pages hold %zu; "
                               "the merged Bundle is marked incomplete", want, have);
        }
    } else if (!truncated) {
        json_object_set_new(merged, "total", json_integer((json_int_t)have));
    } else {
        json_object_del(merged, "total");
    }
    json_object_set(merged, "entry", entries);
    char *body = json_dumps(merged, JSON_COMPACT);
    struct pages_obj *o = body ? obj_new(sizeof *o, pages_dtor) : NULL;
    if (o == NULL) {
        free(body);
        rc = err_set(err, VAP_E_NOMEM, "out of memory merging the pages");
        goto out;
    }
    o->r.struct_size = sizeof o->r;
    o->r.status = 200;
    o->r.content_type = "application/json";
    o->body = body;
    o->r.body = body;
    o->r.body_len = strlen(body);
    o->headers[0].name = "X-Vap-Pages-Truncated";
    o->headers[0].value = "1";
    o->r.headers = truncated ? o->headers : NULL;
    o->r.n_headers = truncated ? 1 : 0;
    o->r.pages = pages;
    *out = &o->r;
    rc = VAP_OK;
out:
    obj_release(resp);
    json_decref(merged);
    json_decref(entries);
    json_decref(seen);
    return rc;
}
