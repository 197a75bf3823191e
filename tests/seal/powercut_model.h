/*
 * powercut_model.h - the states a power cut can leave behind, built from
 * the calls seal_shim.c recorded in $SEAL_SHIM_SNAPDIR (record mode).
 *
 * The model: a file's bytes are on disk only as of its last fsync (the
 * shim's snapshot; never fsynced: empty; later writes lost, not torn: the
 * product never rewrites a file in place).  A change to a directory entry
 * (create, rename, unlink) is on disk once that directory is fsynced;
 * before that, the filesystem may have written any in-order prefix of the
 * directory's pending changes (its journal is ordered), chosen
 * independently per directory.  The starting point is the files present
 * when the model was made, all taken as on disk.
 *
 * For every prefix of the recorded calls and every such choice, the walk
 * writes the state into fresh directories (one per watched directory) and
 * hands them to the caller's check.  Single-threaded; not for the product.
 */
#ifndef POWERCUT_MODEL_H
#define POWERCUT_MODEL_H

#include <stddef.h>

#define PC_MAX_WATCH 4

/* A watched directory; with NAME, only NAME and the files ".NAME.*" (the
 * product's temp and lock files) in it. */
typedef struct pc_watch {
    const char *dir;
    const char *name;
} pc_watch;

/* One state a power cut can leave, as handed to the check. */
typedef struct pc_state {
    const char *dirs[PC_MAX_WATCH]; /* the materialised watches, in order */
    size_t calls, total;            /* after CALLS of the TOTAL recorded calls */
    const char *last;               /* the last call applied ("" for none) */
    size_t pending[PC_MAX_WATCH];   /* entry changes not yet fsynced, per watch */
    size_t taken[PC_MAX_WATCH];     /* how many of those this state includes */
} pc_state;

/* 0 when the state is acceptable; else -1 with WHY filled. */
typedef int (*pc_check_fn)(void *ctx, const pc_state *st, char *why, size_t cap);

typedef struct pc_model pc_model;

/* Takes the current files of the N watches as the starting point and
 * empties SNAPDIR's record.  0, or -1 with WHY. */
int pc_model_new(const pc_watch *w, size_t n, const char *snapdir, pc_model **out, char *why, size_t cap);
/* Replays SNAPDIR/events into the states under ROOT (created, 0700) and
 * runs CHECK on each; *STATES counts them.  Once per model (the replay
 * moves it on).  -1 with WHY (naming the state)
 * on the first failed check or on a call the model cannot represent. */
int pc_model_walk(pc_model *m, const char *root, pc_check_fn check, void *ctx, size_t *states, char *why,
                  size_t cap);
/* Calls in the record, as counted by the last walk (all of them, even
 * when the walk stopped at a failed state). */
size_t pc_model_calls(const pc_model *m);
void pc_model_free(pc_model *m);

#endif
