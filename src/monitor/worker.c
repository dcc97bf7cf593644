#include "monitor/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "monitor/monitor.h"

/* The queue between the loop and the thread: todo (submitted, not yet run) and finished
 * (run, waiting for done()), under one lock. */
struct cit_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct cit_job *todo, *todo_tail, *finished;
	bool stop, started;
	int efd;                  /* owned: readable when finished holds jobs */
	struct cit_ev ev;
};

static void *worker_main(void *arg)
{
	struct cit_worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->todo && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->todo)
			break;
		struct cit_job *job = w->todo;
		w->todo = job->next;
		if (!w->todo)
			w->todo_tail = NULL;
		pthread_mutex_unlock(&w->lock);
		job->run(job);
		pthread_mutex_lock(&w->lock);
		job->next = w->finished;
		w->finished = job;
		uint64_t one = 1;
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow at one write per job */
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void worker_event(struct monitor *m, struct cit_ev *ev, uint32_t events);

int cit_worker_start(struct monitor *m, struct cit_error *err)
{
	static struct cit_worker w; /* one per process, as the monitor is */
	w = (struct cit_worker){ .efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	if (w.efd < 0)
		return cit_error_set(err, -errno, "eventfd");
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.wake, NULL);
	w.ev = (struct cit_ev){ worker_event };
	int rc = cit_ep_add(m, w.efd, &w.ev);
	if (rc == 0 && (rc = -pthread_create(&w.thread, NULL, worker_main, &w)) == 0)
		w.started = true;
	if (rc < 0) {
		close(w.efd);
		return cit_error_set(err, rc, "starting the worker thread");
	}
	m->worker = &w;
	return 0;
}

void cit_worker_submit(struct monitor *m, struct cit_job *job)
{
	struct cit_worker *w = m->worker;
	job->next = NULL;
	job->cancelled = false;
	pthread_mutex_lock(&w->lock);
	if (w->todo_tail)
		w->todo_tail->next = job;
	else
		w->todo = job;
	w->todo_tail = job;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

/* Takes the finished jobs, oldest first. */
static struct cit_job *take_finished(struct cit_worker *w)
{
	pthread_mutex_lock(&w->lock);
	struct cit_job *list = w->finished, *rev = NULL;
	w->finished = NULL;
	pthread_mutex_unlock(&w->lock);
	while (list) {
		struct cit_job *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	return rev;
}

/* The completion eventfd is readable: calls done() of every finished job. */
static void worker_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	(void)ev;
	(void)events;
	struct cit_worker *w = m->worker;
	uint64_t n;
	if (read(w->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	for (struct cit_job *job = take_finished(w), *next; job; job = next) {
		next = job->next;
		job->done(m, job);
	}
}

void cit_worker_stop(struct monitor *m)
{
	struct cit_worker *w = m->worker;
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	struct cit_job *never = w->todo;
	w->todo = w->todo_tail = NULL;
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	if (w->started)
		pthread_join(w->thread, NULL);
	for (struct cit_job *job = take_finished(w), *next; job; job = next) {
		next = job->next;
		job->done(m, job);
	}
	for (struct cit_job *next; never; never = next) {
		next = never->next;
		never->cancelled = true;
		never->done(m, never);
	}
	close(w->efd);
	m->worker = NULL;
}
