/* pqlib.h - libpq, loaded the first time a PostgreSQL grant_store is named.
 *
 * A host whose grants live in files never maps libpq, nor the libssl it
 * brings (1.5M instructions at load, 6% of a bare libcurl program's whole
 * cold start, by callgrind), and runs without libpq5 installed.  Code that includes this header
 * calls PQ* as usual: the calls go through the table pqlib_load fills.
 * Every entry point (pgstore_new, the grant_store option) loads it first. */
#ifndef VAP_PQLIB_H
#define VAP_PQLIB_H

#include <libpq-fe.h>
#include <stddef.h>

#define PQLIB_FUNCS(X)                                                                   \
    X(PQclear) X(PQcmdTuples) X(PQconnectdbParams) X(PQconninfoFree) X(PQconninfoParse) \
    X(PQerrorMessage) X(PQexec) X(PQexecParams) X(PQfinish) X(PQfreemem)               \
    X(PQgetisnull) X(PQgetlength) X(PQgetvalue) X(PQntuples) X(PQresultErrorField)     \
    X(PQresultErrorMessage) X(PQresultStatus) X(PQsetNoticeProcessor) X(PQstatus)

#define PQLIB_FIELD(f) __typeof__(f) *f;
struct pqlib {
    PQLIB_FUNCS(PQLIB_FIELD)
};
#undef PQLIB_FIELD
extern struct pqlib pqlib;

/* 0 once every function is in the table (tried once per process, from any
 * thread: installing libpq5 later needs a restart); -1 with why saying what
 * to install. */
int pqlib_load(char *why, size_t why_size);

#define PQclear(...) pqlib.PQclear(__VA_ARGS__)
#define PQcmdTuples(...) pqlib.PQcmdTuples(__VA_ARGS__)
#define PQconnectdbParams(...) pqlib.PQconnectdbParams(__VA_ARGS__)
#define PQconninfoFree(...) pqlib.PQconninfoFree(__VA_ARGS__)
#define PQconninfoParse(...) pqlib.PQconninfoParse(__VA_ARGS__)
#define PQerrorMessage(...) pqlib.PQerrorMessage(__VA_ARGS__)
#define PQexec(...) pqlib.PQexec(__VA_ARGS__)
#define PQexecParams(...) pqlib.PQexecParams(__VA_ARGS__)
#define PQfinish(...) pqlib.PQfinish(__VA_ARGS__)
#define PQfreemem(...) pqlib.PQfreemem(__VA_ARGS__)
#define PQgetisnull(...) pqlib.PQgetisnull(__VA_ARGS__)
#define PQgetlength(...) pqlib.PQgetlength(__VA_ARGS__)
#define PQgetvalue(...) pqlib.PQgetvalue(__VA_ARGS__)
#define PQntuples(...) pqlib.PQntuples(__VA_ARGS__)
#define PQresultErrorField(...) pqlib.PQresultErrorField(__VA_ARGS__)
#define PQresultErrorMessage(...) pqlib.PQresultErrorMessage(__VA_ARGS__)
#define PQresultStatus(...) pqlib.PQresultStatus(__VA_ARGS__)
#define PQsetNoticeProcessor(...) pqlib.PQsetNoticeProcessor(__VA_ARGS__)
#define PQstatus(...) pqlib.PQstatus(__VA_ARGS__)

#endif
