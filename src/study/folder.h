/* The guards of a study's output folder DIR, checked before anything is
 * written to it.
 *
 * One writer at a time. `study run` (its first process, rank 0 under
 * mpirun) and `study calibrate` hold an advisory lock (flock(2)) on
 * DIR/FOLDER_LOCK_FILE for as long as they write DIR; a second one is
 * refused at once. The kernel drops the lock when its process ends, however
 * it ends, so a killed run never leaves a stale lock. Readers (`study
 * report`) take no lock: the store's WAL mode lets them read while a run
 * writes. The --jobs worker processes and ranks 1..N-1 write nothing of
 * DIR themselves (their rows reach the store through the lock holder) and
 * take no lock.
 *
 * One study's data. DIR/data/data.json records what world/ and data/ were
 * built from (study/prepare.h); a study file that needs other data would
 * rebuild both in place and run every segment again, so it is refused
 * unless the caller asks for the rebuild. */
#ifndef PLATEAU_STUDY_FOLDER_H
#define PLATEAU_STUDY_FOLDER_H

#include <stddef.h>

#include "core/error.h"
#include "study/spec.h"

#define FOLDER_LOCK_FILE "plateau.lock"

typedef struct {
    int fd;   /* the locked DIR/FOLDER_LOCK_FILE; -1: none */
} FolderLock;

/* Creates DIR if needed and takes its lock for `command` (e.g. "study
 * run"), writing this process's id and the command into the lock file.
 * Held: "DIR: in use by another plateau study run (pid N); wait for it or
 * stop it" (the holder's command and pid, when it has written them). */
int folder_lock(FolderLock *l, const char *dir, const char *command, Err *e);
/* Releases the lock (the file stays, empty of meaning once unlocked). Safe
 * on a lock never taken or already released. */
void folder_unlock(FolderLock *l);

/* Whether study s may use the data in dir: 0 when dir has no data yet or
 * its data.json records exactly what s needs. Otherwise, with rebuild 0, an
 * error naming dir and what changed ("pretrain_tokens 1146880 -> 163840"),
 * and pointing to a new --out or --rebuild-data; with rebuild 1, 0 and the
 * same change as one line in notice (else notice is ""). */
int folder_check_data(const StudySpec *s, const char *dir, int rebuild, char *notice, size_t notice_size, Err *e);

/* What an edit of a study file changed, from its old text to its new one,
 * as one phrase for a line: "sft_lrs 1e-3 -> 1e-3, 3e-3; [arm cos] added;
 * probes removed", or "comments and layout only". Truncated to size. */
void folder_describe_spec_change(const char *was, const char *now, char *out, size_t size);

#endif
