/* The monitor's worker: one thread for the work that can block (hashing a function's
 * code, writing and syncing it to the state directory), so that the event loop never
 * waits on a disk or on a quarter-gigabyte of SHA-256. A job runs in the worker and then
 * completes in the loop, which learns of it through an eventfd in its epoll set.
 *
 * A job's run() sees only the job (and what the loop guarantees it will not touch until
 * done(): see each job's comment); done() runs in the loop like any event handler. Jobs
 * run one at a time, in submission order. */
#pragma once

#include <stdbool.h>

#include "common/error.h"

struct monitor;

struct cit_job {
	struct cit_job *next;                              /* queue link: the worker's */
	void (*run)(struct cit_job *job);                   /* in the worker thread */
	void (*done)(struct monitor *m, struct cit_job *job); /* then in the loop; frees the job */
	bool cancelled;                                    /* the monitor stopped before run() */
};

/* Starts the worker thread and puts its completion eventfd in m's epoll set. Returns 0 or
 * a negative errno. */
int cit_worker_start(struct monitor *m, struct cit_error *err);

/* Queues job (owned by the worker until its done() is called). */
void cit_worker_submit(struct monitor *m, struct cit_job *job);

/* Lets the job in progress finish, then calls done() of every job with cancelled set for
 * those that never ran, and stops the thread. Idempotent. */
void cit_worker_stop(struct monitor *m);
