/* The python runtime (citadel-python): CPython 3.11 (Debian's libpython3.11) embedded in
 * the zygote program, so that a Python function's instance is a fork of an interpreter
 * that has already started, imported what it needs and run the function's module-level
 * code: a call costs a fork and a function call, not an interpreter's start-up.
 *
 *   zygote    (prepare) the interpreter started, isolated (no PYTHON* environment, no
 *             user site, no bytecode written), Debian's site packages on its path, the
 *             operator's modules imported (CITADEL_PYTHON_PRELOAD, from serve
 *             --python-preload), the garbage collector's view frozen (gc.freeze: what is
 *             there stays out of collections, so its pages stay shared after fork);
 *   template  (load) the function's module imported from its source (the deployed .py, a
 *             sealed memfd), or from its bundle (/bundle on sys.path), with the modules
 *             its deployment names, then its entry point found (MODULE.FUNC; the command
 *             words: the entry, then the modules to preload); frozen again;
 *   trustlet  forked with CPython's fork protocol (PyOS_BeforeFork and the after-fork
 *             hooks: os.register_at_fork's, so random is seeded anew in each instance),
 *             then each call: handle(event, context) (invoke).
 *
 * The interpreter is used by the process's main thread only, which holds the GIL
 * throughout (threads a function starts run while its code runs, as in any program). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "zygote/runtime.h"

#define DEFAULT_ENTRY "handler.handle"
#define DEFAULT_PRELOAD "json,re,base64,hashlib,zlib,random,math,datetime,collections,itertools,functools," \
			"io,struct,uuid,urllib.parse,traceback,decimal,string,textwrap,csv,html"

static PyObject *entry;        /* the function's handle(event, context) */
static PyObject *json_loads, *json_dumps, *context_type, *invoke_error, *state_error;
static struct cit_response *current_resp;
static struct cit_runtime *current_rt;

/* ---- citadel.Object: a data object's bytes, by the buffer protocol ---------------------- */

/* A view of bytes the call holds (the request, an input, an invocation's result: read-only
 * mappings of sealed objects) or of its output buffer (citadel.output: writable). Valid
 * during its call only: then it is emptied, and a call that leaves a memoryview of one
 * alive ends its instance after the call (the memory under the view goes). */
typedef struct cit_pyobj {
	PyObject_HEAD
	char *data;
	Py_ssize_t len;
	unsigned long long ref;
	int writable, output, valid;
	Py_ssize_t exports;
	PyObject *step;               /* str, or None */
	struct cit_pyobj *next, **pprev; /* in the call's live list */
} CitObject;

static CitObject *live_objects;
static char empty_bytes[1];

static int obj_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
	CitObject *o = (CitObject *)self;
	if (!o->valid) {
		PyErr_SetString(PyExc_BufferError, "the call this object belonged to has ended");
		return -1;
	}
	if (PyBuffer_FillInfo(view, self, o->len ? o->data : empty_bytes, o->len, !o->writable, flags) < 0)
		return -1;
	o->exports++;
	return 0;
}

static void obj_releasebuffer(PyObject *self, Py_buffer *view)
{
	(void)view;
	((CitObject *)self)->exports--;
}

static void obj_dealloc(PyObject *self)
{
	CitObject *o = (CitObject *)self;
	if (o->pprev) {
		*o->pprev = o->next;
		if (o->next)
			o->next->pprev = o->pprev;
	}
	Py_XDECREF(o->step);
	Py_TYPE(self)->tp_free(self);
}

static Py_ssize_t obj_length(PyObject *self)
{
	return ((CitObject *)self)->len;
}

static PyObject *obj_tobytes(PyObject *self, PyObject *unused)
{
	(void)unused;
	CitObject *o = (CitObject *)self;
	if (!o->valid)
		return PyErr_Format(PyExc_BufferError, "the call this object belonged to has ended");
	return PyBytes_FromStringAndSize(o->len ? o->data : "", o->len);
}

static PyObject *obj_repr(PyObject *self)
{
	CitObject *o = (CitObject *)self;
	return PyUnicode_FromFormat("<citadel.Object %zd bytes%s%s>", o->len, o->output ? ", output" : "",
				    o->valid ? "" : ", ended");
}

static PyObject *obj_get_ref(PyObject *self, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(((CitObject *)self)->ref);
}

static PyObject *obj_get_step(PyObject *self, void *unused)
{
	(void)unused;
	PyObject *s = ((CitObject *)self)->step;
	Py_INCREF(s);
	return s;
}

static PyBufferProcs obj_as_buffer = { obj_getbuffer, obj_releasebuffer };
static PySequenceMethods obj_as_sequence = { .sq_length = obj_length };
static PyMethodDef obj_methods[] = {
	{ "tobytes", obj_tobytes, METH_NOARGS, "tobytes(): a copy of the bytes" },
	{ NULL, NULL, 0, NULL },
};
static PyGetSetDef obj_getset[] = {
	{ "ref", obj_get_ref, NULL, "the monitor's reference to it during this call (0: inline bytes)", NULL },
	{ "step", obj_get_step, NULL, "a fan-in input's chain step, else None", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject object_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "citadel.Object",
	.tp_basicsize = sizeof(CitObject),
	.tp_dealloc = obj_dealloc,
	.tp_repr = obj_repr,
	.tp_as_sequence = &obj_as_sequence,
	.tp_as_buffer = &obj_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A data object's bytes during a call: read-only (the request, a fan-in input, an "
		  "invocation's result) or writable (citadel.output). bytes(o), memoryview(o), len(o); "
		  "o.ref hands it on (citadel.invoke, or returning it) without a copy.",
	.tp_methods = obj_methods,
	.tp_getset = obj_getset,
};

/* A new Object over len bytes at data, in the call's live list. */
static PyObject *object_new(const void *data, size_t len, uint64_t ref, const char *step, bool output)
{
	CitObject *o = PyObject_New(CitObject, &object_type);
	if (!o)
		return NULL;
	o->data = (char *)data;
	o->len = (Py_ssize_t)len;
	o->ref = ref;
	o->writable = o->output = output;
	o->valid = 1;
	o->exports = 0;
	o->step = step ? PyUnicode_FromString(step) : Py_None;
	if (!step)
		Py_INCREF(Py_None);
	o->next = live_objects;
	o->pprev = &live_objects;
	if (live_objects)
		live_objects->pprev = &o->next;
	live_objects = o;
	if (!o->step) {
		Py_DECREF(o);
		return NULL;
	}
	return (PyObject *)o;
}

/* The call has ended: every Object of it is emptied; one still viewed (a memoryview kept)
 * ends the instance after the call, since the memory under the view is unmapped now. */
static void objects_end(void)
{
	while (live_objects) {
		CitObject *o = live_objects;
		if (o->exports && current_rt && !current_rt->end_after_call) {
			fprintf(stderr, "citadel: a view of a citadel.Object (a memoryview) was kept past its call: the "
				"instance ends after this call\n");
			current_rt->end_after_call = true;
		}
		o->valid = 0;
		o->data = NULL;
		o->len = 0;
		live_objects = o->next;
		if (live_objects)
			live_objects->pprev = &live_objects;
		o->next = NULL;
		o->pprev = NULL;
	}
}

/* ---- the citadel module ------------------------------------------------------------------ */

/* citadel.log(text, level="info"): a line for the function's log, as cit_log. */
static PyObject *py_log(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = { "text", "level", NULL };
	const char *text, *level = "info";
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|s", names, &text, &level))
		return NULL;
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	int l = -1;
	for (int i = 0; i < 4; i++)
		if (!strcmp(level, levels[i]))
			l = i;
	if (l < 0)
		return PyErr_Format(PyExc_ValueError, "level is debug, info, warn or error, not %.20s", level);
	cit_log((enum cit_log_level)l, "%s", text);
	Py_RETURN_NONE;
}

/* citadel._time_left(): seconds to the call's deadline (0 once passed), as cit_deadline. */
static PyObject *py_time_left(PyObject *self, PyObject *unused)
{
	(void)self, (void)unused;
	int64_t ns = cit_deadline();
	if (ns < 0)
		return PyErr_Format(PyExc_RuntimeError, "no call is in progress");
	return PyFloat_FromDouble((double)ns / 1e9);
}

/* citadel._respond_as(status, content_type): cit_set_status, cit_set_content_type. */
static PyObject *py_respond_as(PyObject *self, PyObject *args)
{
	(void)self;
	int status;
	const char *ctype;
	if (!PyArg_ParseTuple(args, "iz", &status, &ctype))
		return NULL;
	if (!current_resp)
		return PyErr_Format(PyExc_RuntimeError, "no call is in progress");
	if (status && cit_set_status(current_resp, status) < 0)
		return PyErr_Format(PyExc_ValueError, "an HTTP status is 200 to 599, not %d", status);
	if (ctype && cit_set_content_type(current_resp, ctype) < 0)
		return PyErr_Format(PyExc_ValueError, "a content type is 1 to 127 printable ASCII characters "
				    "beginning with a letter");
	Py_RETURN_NONE;
}

/* citadel.output(size): a writable Object of size bytes (zeroed) that is the response,
 * whole, when handle returns it (cit_output). */
static PyObject *py_output(PyObject *self, PyObject *args)
{
	(void)self;
	Py_ssize_t n;
	if (!PyArg_ParseTuple(args, "n", &n))
		return NULL;
	if (!current_resp)
		return PyErr_Format(PyExc_RuntimeError, "no call is in progress");
	if (n < 0)
		return PyErr_Format(PyExc_ValueError, "a size is 0 or more bytes");
	/* An earlier output buffer goes: none of its views may be left, and its Objects are
	 * emptied. */
	for (CitObject *o = live_objects; o; o = o->next)
		if (o->output && o->valid && o->exports)
			return PyErr_Format(PyExc_BufferError, "a view of the previous output buffer is still alive");
	for (CitObject *o = live_objects; o; o = o->next)
		if (o->output) {
			o->valid = 0;
			o->len = 0;
			o->data = NULL;
		}
	void *p = cit_output(current_resp, (size_t)n);
	if (!p && errno == EFBIG)
		return PyErr_Format(PyExc_ValueError, "%zd bytes pass the function's output limit (%zu)", n,
				    current_resp->limit);
	if (!p)
		return PyErr_NoMemory();
	return object_new(p, (size_t)n, 0, NULL, true);
}

/* citadel.invoke(function, data=None): calls function (granted by --allow-invoke) and
 * returns its response as an Object (cit_invoke). data: None, bytes-like, str (UTF-8), or an
 * Object, handed on by reference when it has one. Raises citadel.InvokeError. */
/* Raises exc(text) with .code and .text (citadel.InvokeError, citadel.StateError);
 * returns NULL. */
static PyObject *raise_coded(PyObject *exc, int code, const char *text)
{
	PyObject *e = PyObject_CallFunction(exc, "s", text);
	PyObject *c = PyLong_FromLong(code), *t = PyUnicode_FromString(text);
	if (e && c && t && PyObject_SetAttrString(e, "code", c) == 0 && PyObject_SetAttrString(e, "text", t) == 0)
		PyErr_SetObject(exc, e);
	Py_XDECREF(c);
	Py_XDECREF(t);
	Py_XDECREF(e);
	return NULL;
}

static PyObject *py_invoke_fn(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *names[] = { "function", "data", NULL };
	const char *fn;
	PyObject *data = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|O", names, &fn, &data))
		return NULL;
	struct cit_object in = { 0 }, out = { 0 };
	Py_buffer b = { 0 };
	bool held = false;
	if (PyObject_TypeCheck(data, &object_type) && ((CitObject *)data)->ref && ((CitObject *)data)->valid) {
		in.ref = ((CitObject *)data)->ref;
	} else if (PyUnicode_Check(data)) {
		Py_ssize_t n;
		in.data = PyUnicode_AsUTF8AndSize(data, &n);
		if (!in.data)
			return NULL;
		in.len = (size_t)n;
	} else if (data != Py_None) {
		if (PyObject_GetBuffer(data, &b, PyBUF_SIMPLE) < 0)
			return NULL;
		held = true;
		in.data = b.buf;
		in.len = (size_t)b.len;
	}
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = cit_invoke(fn, &in, &out);
	Py_END_ALLOW_THREADS
	if (held)
		PyBuffer_Release(&b);
	if (rc < 0)
		return raise_coded(invoke_error, rc, cit_invoke_error()); /* InvokeError(text) */
	return object_new(out.data, out.len, out.ref, NULL, false);
}

/* A key or value argument's bytes: a bytes-like object, or a str as UTF-8. Returns 0 with
 * b filled (release it with PyBuffer_Release when *held), or -1 with an exception. */
static int bytes_arg(PyObject *o, Py_buffer *b, bool *held, const void **p, size_t *len)
{
	*held = false;
	if (PyUnicode_Check(o)) {
		Py_ssize_t n;
		*p = PyUnicode_AsUTF8AndSize(o, &n);
		*len = (size_t)n;
		return *p ? 0 : -1;
	}
	if (PyObject_GetBuffer(o, b, PyBUF_SIMPLE) < 0)
		return -1;
	*held = true;
	*p = b->buf;
	*len = (size_t)b->len;
	return 0;
}

/* _kv(ns, ops): ops a list of (kind, key, value or None, if_version, version); returns a
 * list of (rc, version, value or None, error text or None), one per op (citadel.kv). */
static PyObject *py_kv(PyObject *self, PyObject *args)
{
	(void)self;
	const char *ns = NULL;
	PyObject *list;
	if (!PyArg_ParseTuple(args, "zO!", &ns, &PyList_Type, &list))
		return NULL;
	Py_ssize_t n = PyList_GET_SIZE(list);
	if (n < 1 || n > 1024)
		return PyErr_Format(PyExc_ValueError, "a batch holds 1 to 1024 operations, not %zd", n);
	struct cit_kv_op *ops = calloc((size_t)n, sizeof(*ops));
	Py_buffer *bufs = calloc((size_t)n * 2, sizeof(*bufs));
	bool *held = calloc((size_t)n * 2, sizeof(*held));
	PyObject *result = NULL;
	if (!ops || !bufs || !held) {
		PyErr_NoMemory();
		goto out;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *key, *value;
		int kind, if_version;
		unsigned long long version;
		if (!PyArg_ParseTuple(PyList_GET_ITEM(list, i), "iOOpK", &kind, &key, &value, &if_version, &version))
			goto out;
		ops[i] = (struct cit_kv_op){ .kind = kind, .if_version = if_version, .version = version };
		if (bytes_arg(key, &bufs[2 * i], &held[2 * i], &ops[i].key, &ops[i].klen) < 0)
			goto out;
		if (value != Py_None && bytes_arg(value, &bufs[2 * i + 1], &held[2 * i + 1], &ops[i].value, &ops[i].vlen) < 0)
			goto out;
	}
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = cit_kv_batch(ns, ops, (size_t)n);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		raise_coded(state_error, rc, cit_kv_error());
		goto out;
	}
	if (!(result = PyList_New(n)))
		goto out;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *t = Py_BuildValue("(iKy#s)", ops[i].rc, (unsigned long long)ops[i].version,
					    ops[i].rc == 0 && ops[i].kind == CIT_KV_GET ? ops[i].value : NULL,
					    (Py_ssize_t)(ops[i].rc == 0 && ops[i].kind == CIT_KV_GET ? ops[i].vlen : 0),
					    ops[i].rc < 0 ? ops[i].error : NULL);
		if (!t) {
			Py_CLEAR(result);
			goto out;
		}
		PyList_SET_ITEM(result, i, t);
	}
out:
	for (Py_ssize_t i = 0; held && i < 2 * n; i++)
		if (held[i])
			PyBuffer_Release(&bufs[i]);
	free(ops);
	free(bufs);
	free(held);
	return result;
}

/* _kv_scan(ns, prefix, after, limit): a list of the names (bytes) (citadel.kv.scan). */
static PyObject *py_kv_scan(PyObject *self, PyObject *args)
{
	(void)self;
	const char *ns = NULL;
	PyObject *prefix, *after;
	unsigned int limit;
	if (!PyArg_ParseTuple(args, "zOOI", &ns, &prefix, &after, &limit))
		return NULL;
	if (limit < 1 || limit > 1000)
		return PyErr_Format(PyExc_ValueError, "a scan lists 1 to 1000 names at a time, not %u", limit);
	Py_buffer pb = { 0 }, ab = { 0 };
	bool ph = false, ah = false;
	const void *p = NULL, *a = NULL;
	size_t plen = 0, alen = 0;
	PyObject *result = NULL;
	struct cit_kv_name *names = calloc(limit, sizeof(*names));
	if (!names)
		return PyErr_NoMemory();
	if (bytes_arg(prefix, &pb, &ph, &p, &plen) == 0 && bytes_arg(after, &ab, &ah, &a, &alen) == 0) {
		size_t got = 0;
		int rc;
		Py_BEGIN_ALLOW_THREADS
		rc = cit_kv_scan_in(ns, p, plen, a, alen, names, limit, &got);
		Py_END_ALLOW_THREADS
		if (rc < 0)
			raise_coded(state_error, rc, cit_kv_error());
		else if ((result = PyList_New((Py_ssize_t)got)))
			for (size_t i = 0; i < got; i++) {
				PyObject *b = PyBytes_FromStringAndSize(names[i].name, (Py_ssize_t)names[i].nlen);
				if (!b) {
					Py_CLEAR(result);
					break;
				}
				PyList_SET_ITEM(result, (Py_ssize_t)i, b);
			}
	}
	if (ph)
		PyBuffer_Release(&pb);
	if (ah)
		PyBuffer_Release(&ab);
	free(names);
	return result;
}

/* _kv_lock(key, lease_ms) and _kv_unlock(key, discard): citadel.kv.lock(). */
static PyObject *kv_lock_op(PyObject *args, bool lock)
{
	PyObject *key;
	unsigned int lease_ms = 0;
	int discard = 0;
	if (lock ? !PyArg_ParseTuple(args, "OI", &key, &lease_ms) : !PyArg_ParseTuple(args, "Op", &key, &discard))
		return NULL;
	Py_buffer b = { 0 };
	bool held = false;
	const void *p;
	size_t len;
	if (bytes_arg(key, &b, &held, &p, &len) < 0)
		return NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = lock ? cit_kv_lock(p, len, lease_ms) : cit_kv_unlock(p, len, discard);
	Py_END_ALLOW_THREADS
	if (held)
		PyBuffer_Release(&b);
	if (rc < 0)
		return raise_coded(state_error, rc, cit_kv_error());
	Py_RETURN_NONE;
}

static PyObject *py_kv_lock(PyObject *self, PyObject *args)
{
	(void)self;
	return kv_lock_op(args, true);
}

static PyObject *py_kv_unlock(PyObject *self, PyObject *args)
{
	(void)self;
	return kv_lock_op(args, false);
}

/* secret(name): the bytes of a secret released to this function's code (cit_secret). */
static PyObject *py_secret(PyObject *self, PyObject *args)
{
	(void)self;
	const char *name;
	PyObject *dflt = NULL;
	if (!PyArg_ParseTuple(args, "s|O", &name, &dflt))
		return NULL;
	size_t len = 0;
	const void *v = cit_secret(name, &len);
	if (!v && dflt)
		return Py_NewRef(dflt);
	if (!v) {
		PyErr_Format(PyExc_KeyError, "no secret %s for this function's code (citadel secret ls; a redeploy "
			     "with new code needs citadel secret grant)", name);
		return NULL;
	}
	return PyBytes_FromStringAndSize(v, (Py_ssize_t)len);
}

static PyMethodDef citadel_methods[] = {
	{ "_kv", py_kv, METH_VARARGS, NULL },
	{ "_kv_lock", py_kv_lock, METH_VARARGS, NULL },
	{ "_kv_unlock", py_kv_unlock, METH_VARARGS, NULL },
	{ "_kv_scan", py_kv_scan, METH_VARARGS, NULL },
	{ "output", py_output, METH_VARARGS,
	  "output(size): a writable buffer (citadel.Object) of size bytes; return it from handle and it is "
	  "the response, passed on without a copy" },
	{ "invoke", (PyCFunction)(void (*)(void))py_invoke_fn, METH_VARARGS | METH_KEYWORDS,
	  "invoke(function, data=None): calls a function this one's deployment may call (--allow-invoke) and "
	  "returns its response (citadel.Object); data may be an Object, handed on without a copy" },
	{ "log", (PyCFunction)(void (*)(void))py_log, METH_VARARGS | METH_KEYWORDS,
	  "log(text, level='info'): a line for the function's log (debug, info, warn, error)" },
	{ "secret", py_secret, METH_VARARGS,
	  "secret(name[, default]): the bytes of the secret the admin released to this function's code "
	  "(citadel secret put NAME FILE --for FUNCTION); default, or KeyError, when there is none for this code" },
	{ "_time_left", py_time_left, METH_NOARGS, NULL },
	{ "_respond_as", py_respond_as, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef citadel_def = {
	PyModuleDef_HEAD_INIT, "citadel", "Citadel's calls for a Python function (docs/python.md).", -1,
	citadel_methods, NULL, NULL, NULL, NULL,
};

static PyObject *citadel_init(void)
{
	PyObject *m = PyModule_Create(&citadel_def);
	if (!m || PyType_Ready(&object_type) < 0)
		return NULL;
	Py_INCREF(&object_type);
	PyModule_AddObject(m, "Object", (PyObject *)&object_type);
	invoke_error = PyErr_NewExceptionWithDoc("citadel.InvokeError", "citadel.invoke() failed: .code (a negative "
						 "errno) and .text (its message, also str(e))", PyExc_RuntimeError, NULL);
	if (!invoke_error)
		return NULL;
	Py_INCREF(invoke_error);
	PyModule_AddObject(m, "InvokeError", invoke_error);
	state_error = PyErr_NewExceptionWithDoc("citadel.StateError", "a key-value operation failed: .code (a "
						"negative errno) and .text (its message, also str(e))", PyExc_RuntimeError,
						NULL);
	if (!state_error)
		return NULL;
	Py_INCREF(state_error);
	PyModule_AddObject(m, "StateError", state_error);
	return m;
}

/* The rest of the module, in Python: the context a handler is given. */
static const char context_src[] =
	"import citadel as _c\n"
	"class HTTPRequest:\n"
	"    '''The HTTP request behind a call: method, path (after /function/NAME), query and\n"
	"    headers (a dict, names in lower case; a header sent twice: its first value).'''\n"
	"    __slots__ = ('method', 'path', 'query', 'headers')\n"
	"    def __init__(self, method, path, query, headers):\n"
	"        self.method, self.path, self.query, self.headers = method, path, query, headers\n"
	"    def __repr__(self):\n"
	"        return f'HTTPRequest({self.method} {self.path!r} query={self.query!r})'\n"
	"class Context:\n"
	"    '''One call's context: function (the name), call_id (its invocation number, as\n"
	"    the C API's and the log's), content_type (the request's), http (an HTTPRequest,\n"
	"    or None when the call did not come over HTTP), input (the request as a\n"
	"    citadel.Object: its bytes without a copy, handed on by citadel.invoke),\n"
	"    time_left() (seconds), log().\n"
	"    Set status and content_type_out to shape the HTTP response.'''\n"
	"    __slots__ = ('function', 'call_id', 'content_type', 'http', 'status', 'content_type_out', 'input')\n"
	"    def __init__(self, function, call_id, content_type, http):\n"
	"        self.function, self.call_id, self.content_type, self.http = function, call_id, content_type, http\n"
	"        self.status, self.content_type_out, self.input = None, None, None\n"
	"    def time_left(self):\n"
	"        return _c._time_left()\n"
	"    def log(self, text, level='info'):\n"
	"        _c.log(str(text), level)\n"
	"    def __repr__(self):\n"
	"        return f'Context({self.function!r}, call_id={self.call_id})'\n"
	"class KV:\n"
	"    '''Key-value state (docs/state.md): this function's namespace, or with\n"
	"    namespace(NAME) another's that shares it. Keys and values are bytes (a str is\n"
	"    taken as UTF-8). Failures raise citadel.StateError (.code, .text).'''\n"
	"    __slots__ = ('_ns',)\n"
	"    def __init__(self, ns=None):\n"
	"        self._ns = ns\n"
	"    def namespace(self, name):\n"
	"        return KV(name)\n"
	"    def _one(self, op, ok=(0,)):\n"
	"        rc, version, value, error = _c._kv(self._ns, [op])[0]\n"
	"        if rc not in ok:\n"
	"            e = _c.StateError(error); e.code, e.text = rc, error\n"
	"            raise e\n"
	"        return rc, version, value\n"
	"    def get(self, key, default=None):\n"
	"        '''The value (bytes), or default when there is no such key.'''\n"
	"        rc, _, value = self._one((1, key, None, False, 0), (0, -2))\n"
	"        return default if rc else value\n"
	"    def get_version(self, key):\n"
	"        '''(value, version), or (None, 0) when there is no such key.'''\n"
	"        rc, version, value = self._one((1, key, None, False, 0), (0, -2))\n"
	"        return (None, 0) if rc else (value, version)\n"
	"    def put(self, key, value):\n"
	"        '''Writes the value; returns its new version.'''\n"
	"        if value is None:\n"
	"            raise TypeError('a value is bytes or str, not None (delete() removes a key)')\n"
	"        return self._one((2, key, value, False, 0))[1]\n"
	"    def cas(self, key, version, value):\n"
	"        '''Writes only if the key's version is still version (0: only if absent).\n"
	"        Returns (True, new version), or (False, the current version).'''\n"
	"        if not 0 <= version < 2 ** 64:\n"
	"            raise ValueError('a version is from 0 to 2**64 - 1')\n"
	"        rc, v, _ = self._one((2, key, value, True, version), (0, -125))\n"
	"        return rc == 0, v\n"
	"    def delete(self, key):\n"
	"        '''Deletes the key; False when there was none.'''\n"
	"        return self._one((3, key, None, False, 0), (0, -2))[0] == 0\n"
	"    def scan(self, prefix=b'', after=b'', limit=1000):\n"
	"        '''The names (bytes) beginning with prefix, after after, in byte order, at most\n"
	"        limit (1 to 1000) of them.'''\n"
	"        return _c._kv_scan(self._ns, prefix, after, limit)\n"
	"    def batch(self, ops):\n"
	"        '''ops: ('get', key) | ('put', key, value) | ('delete', key), at most 1024, in one\n"
	"        round trip; returns, for each: the value or None (get), the version (put), True\n"
	"        or False (delete). Other failures raise citadel.StateError.'''\n"
	"        kinds = {'get': 1, 'put': 2, 'delete': 3}\n"
	"        wire = [(kinds[o[0]], o[1], o[2] if o[0] == 'put' else None, False, 0) for o in ops]\n"
	"        out = []\n"
	"        for o, (rc, version, value, error) in zip(ops, _c._kv(self._ns, wire)):\n"
	"            if rc not in (0, -2) or (rc == -2 and o[0] == 'put'):\n"
	"                e = _c.StateError(error); e.code, e.text = rc, error\n"
	"                raise e\n"
	"            out.append((value if rc == 0 else None) if o[0] == 'get' else version if o[0] == 'put' else rc == 0)\n"
	"        return out\n"
	"    def unlock(self, key, discard=False):\n"
	"        '''Releases a lock taken with lock() outside a with block.'''\n"
	"        _c._kv_unlock(key, discard)\n"
	"    def lock(self, key, lease=10.0):\n"
	"        '''A lock on key of this function's namespace, for a with block: its writes are\n"
	"        made when the block ends, dropped if it raises (docs/state.md). lease: seconds.'''\n"
	"        if self._ns:\n"
	"            raise ValueError('locks are of the function\\'s own namespace')\n"
	"        return _Lock(key, lease)\n"
	"class _Lock:\n"
	"    __slots__ = ('_key', '_ms')\n"
	"    def __init__(self, key, lease):\n"
	"        self._key, self._ms = key, int(lease * 1000)\n"
	"    def __enter__(self):\n"
	"        _c._kv_lock(self._key, self._ms)\n"
	"        return self\n"
	"    def __exit__(self, kind, value, tb):\n"
	"        _c._kv_unlock(self._key, kind is not None)\n"
	"        return False\n"
	"_c.Context, _c.HTTPRequest, _c.KV, _c.kv = Context, HTTPRequest, KV, KV()\n"
	/* fd 0 is the runtime's channel to the monitor, not a function's input. */
	"import sys as _sys, os as _os\n"
	"_sys.stdin = open(_os.devnull)\n";

/* ---- errors ------------------------------------------------------------------------------ */

/* The pending exception as one line ("ValueError: bad input") into out, its traceback to
 * stderr (the function's log); cleared. */
static void exception_text(char *out, size_t cap)
{
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	if (!type) {
		snprintf(out, cap, "an error without an exception");
		return;
	}
	PyErr_NormalizeException(&type, &value, &tb);
	PyObject *type_name = PyType_Check(type) ? PyType_GetName((PyTypeObject *)type) : NULL;
	PyObject *msg = value ? PyObject_Str(value) : NULL;
	const char *t = type_name ? PyUnicode_AsUTF8(type_name) : NULL, *m = msg ? PyUnicode_AsUTF8(msg) : NULL;
	if (m && *m)
		snprintf(out, cap, "%s: %s", t ? t : "Exception", m);
	else
		snprintf(out, cap, "%s", t ? t : "Exception");
	/* Control characters shown as spaces: the text is one line of an error. */
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
	PyErr_Clear();
	/* The traceback, to stderr (the function's log). Not PyErr_Print: for SystemExit it
	 * ends the process, and sys.exit() in a function is one more failure, said as such.
	 * A sealed call's exception may hold its request's words: its type only. */
	if (cit_runtime_call_sealed())
		fprintf(stderr, "%s (in a sealed call: its message and traceback are withheld)\n", t ? t : "Exception");
	else
		PyErr_Display(type, value, tb);
	Py_XDECREF(type_name);
	Py_XDECREF(msg);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	PyObject *err = PySys_GetObject("stderr"), *r = err ? PyObject_CallMethod(err, "flush", NULL) : NULL;
	Py_XDECREF(r);
	PyErr_Clear();
	fflush(stderr);
}

/* ---- the zygote: the interpreter, started once ------------------------------------------ */

/* Imports each module named in list (commas between names). Returns 0, or -ENOENT with
 * err naming the first that failed and why. */
static int preload(const char *list, struct cit_error *err)
{
	char name[256];
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		snprintf(name, sizeof(name), "%.*s", (int)(n < 255 ? n : 255), p);
		p += n + (p[n] == ',');
		if (!name[0])
			continue;
		PyObject *m = PyImport_ImportModule(name);
		if (!m) {
			char why[CIT_TEXT_MAX];
			exception_text(why, sizeof(why));
			return cit_error_say(err, -ENOENT, "importing %s: %s", name, why);
		}
		Py_DECREF(m);
	}
	return 0;
}

static void gc_freeze(void)
{
	PyObject *gc = PyImport_ImportModule("gc");
	if (!gc)
		return PyErr_Clear();
	PyObject *r = PyObject_CallMethod(gc, "collect", NULL);
	Py_XDECREF(r);
	r = PyObject_CallMethod(gc, "freeze", NULL);
	Py_XDECREF(r);
	Py_DECREF(gc);
	PyErr_Clear();
}

static int py_prepare(struct cit_runtime *rt, struct cit_error *err)
{
	(void)rt;
	if (PyImport_AppendInittab("citadel", citadel_init) < 0)
		return cit_error_set(err, -ENOMEM, "the citadel module");
	PyConfig config;
	PyConfig_InitIsolatedConfig(&config);
	config.install_signal_handlers = 0; /* the runtime's signals are its own */
	config.write_bytecode = 0;          /* the view is read-only */
	config.site_import = 1;             /* Debian's dist-packages */
	config.parse_argv = 0;
	PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, "/usr/bin/python3");
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st))
		return cit_error_say(err, -ENOEXEC, "starting Python: %s", st.err_msg ? st.err_msg : "?");
	PyObject *globals = PyDict_New();
	PyObject *r = globals ? PyRun_String(context_src, Py_file_input, globals, globals) : NULL;
	Py_XDECREF(r);
	Py_XDECREF(globals);
	PyObject *citadel = PyImport_ImportModule("citadel");
	PyObject *json = PyImport_ImportModule("json");
	if (!r || !citadel || !json) {
		char why[CIT_TEXT_MAX];
		exception_text(why, sizeof(why));
		return cit_error_say(err, -ENOEXEC, "starting Python: %s", why);
	}
	context_type = PyObject_GetAttrString(citadel, "Context");
	json_loads = PyObject_GetAttrString(json, "loads");
	json_dumps = PyObject_GetAttrString(json, "dumps");
	Py_DECREF(citadel);
	Py_DECREF(json);
	const char *list = getenv("CITADEL_PYTHON_PRELOAD");
	int rc = preload(list ? list : DEFAULT_PRELOAD, err);
	if (rc < 0)
		return rc;
	gc_freeze();
	return 0;
}

/* ---- the template: the function's module ------------------------------------------------- */

/* The module named name from len bytes of source at src, as if imported from name.py. */
static PyObject *module_from_source(const char *name, const char *src, size_t len)
{
	char file[300];
	snprintf(file, sizeof(file), "%s.py", name);
	PyObject *text = PyBytes_FromStringAndSize(src, (Py_ssize_t)len);
	PyObject *code = text ? Py_CompileString(PyBytes_AS_STRING(text), file, Py_file_input) : NULL;
	Py_XDECREF(text);
	if (!code)
		return NULL;
	PyObject *m = PyImport_ExecCodeModuleEx(name, code, file);
	Py_DECREF(code);
	return m;
}

/* os.environ is read once, when the interpreter starts (in the zygote); the function's
 * environment (--env, set at LOAD) is put there too, as a program started with it sees it. */
static void sync_environ(const struct cit_rx *rx)
{
	PyObject *os = PyImport_ImportModule("os"), *env = os ? PyObject_GetAttrString(os, "environ") : NULL;
	for (size_t i = 0; env && rx->env[i]; i++) {
		const char *eq = strchr(rx->env[i], '=');
		PyObject *k = eq ? PyUnicode_DecodeFSDefaultAndSize(rx->env[i], eq - rx->env[i]) : NULL;
		PyObject *v = eq ? PyUnicode_DecodeFSDefault(eq + 1) : NULL;
		if (k && v)
			PyObject_SetItem(env, k, v);
		Py_XDECREF(k);
		Py_XDECREF(v);
	}
	Py_XDECREF(env);
	Py_XDECREF(os);
	PyErr_Clear();
}

static int py_load(struct cit_runtime *rt, struct cit_rx *rx, uint8_t code_sha256[32], struct cit_error *err)
{
	(void)code_sha256; /* the monitor measured the source it sent */
	sync_environ(rx);
	const struct cit_fn_spec *spec = rx->spec;
	const char *want = spec->n_args ? rx->args[0] : DEFAULT_ENTRY;
	const char *dot = strrchr(want, '.');
	if (!dot || dot == want || !dot[1])
		return cit_error_say(err, -EINVAL, "the entry point '%.100s' is not MODULE.FUNCTION", want);
	char module[256];
	snprintf(module, sizeof(module), "%.*s", (int)(dot - want < 255 ? dot - want : 255), want);
	/* A function's module is its own: not one of Python's, the runtime's or a preloaded
	 * one it would replace; and its function is no dunder name. */
	PyObject *modules = PyImport_GetModuleDict(), *stdlib = PySys_GetObject("stdlib_module_names");
	PyObject *top = PyUnicode_FromStringAndSize(module, (Py_ssize_t)strcspn(module, "."));
	bool python_own = !top || !stdlib || PySequence_Contains(stdlib, top) == 1;
	Py_XDECREF(top);
	PyErr_Clear();
	if ((!(spec->flags & CIT_FN_BUNDLE) && PyDict_GetItemString(modules, module)) || python_own ||
	    !strcmp(module, "citadel") || !strncmp(dot + 1, "__", 2))
		return cit_error_say(err, -EINVAL, "the entry point %s is taken: %s is a module of Python's or the runtime's "
				     "own (name the function's module otherwise: --handler MODULE.FUNCTION)", want,
				     !strncmp(dot + 1, "__", 2) ? dot + 1 : module);
	PyObject *m;
	if (spec->flags & CIT_FN_BUNDLE) {
		/* A bundle: its files at CIT_BUNDLE_PATH, first on the path (its own modules may
		 * be preloaded too). Compiled bytecode in it would run instead of the source that
		 * people read: refused. */
		PyObject *g = PyDict_New();
		PyObject *r = g ? PyRun_String("import os\n"
					       "pyc = [os.path.join(d, f)[len('" CIT_BUNDLE_PATH "/'):] for d, _, fs in "
					       "os.walk('" CIT_BUNDLE_PATH "') for f in fs if f.endswith(('.pyc', '.pyo'))]\n",
					       Py_file_input, g, g)
					 : NULL;
		PyObject *pyc = r ? PyDict_GetItemString(g, "pyc") : NULL;
		if (pyc && PyList_Size(pyc) > 0) {
			PyObject *first = PyList_GetItem(pyc, 0);
			int rc = cit_error_say(err, -EINVAL, "the bundle holds compiled bytecode (%s): what runs would not "
					       "be the source in it; remove its __pycache__ directories",
					       PyUnicode_AsUTF8(first));
			Py_XDECREF(r);
			Py_DECREF(g);
			return rc;
		}
		Py_XDECREF(r);
		Py_XDECREF(g);
		PyErr_Clear();
		if ((rt->bundle = open(CIT_BUNDLE_PATH, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return cit_error_set(err, -errno, "the bundle is not at " CIT_BUNDLE_PATH);
		PyObject *path = PySys_GetObject("path"), *dir = PyUnicode_FromString(CIT_BUNDLE_PATH);
		if (!path || !dir || PyList_Insert(path, 0, dir) < 0) {
			Py_XDECREF(dir);
			return cit_error_set(err, -ENOMEM, "sys.path");
		}
		Py_DECREF(dir);
	}
	/* The modules its deployment names, before its own. */
	for (uint32_t i = 1; i < spec->n_args; i++) {
		int rc = preload(rx->args[i], err);
		if (rc < 0)
			return rc;
	}
	if (spec->flags & CIT_FN_BUNDLE) {
		m = PyImport_ImportModule(module);
	} else {
		if (rx->nfds != 1)
			return cit_error_say(err, -EINVAL, "no code came with the function");
		struct stat st;
		if (fstat(rx->fds[0], &st) < 0 || st.st_size <= 0)
			return cit_error_say(err, -EINVAL, "the function's source is empty");
		void *src = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, rx->fds[0], 0);
		if (src == MAP_FAILED)
			return cit_error_set(err, -errno, "reading the function's source");
		m = module_from_source(module, src, (size_t)st.st_size);
		munmap(src, (size_t)st.st_size);
	}
	if (!m) {
		char why[CIT_TEXT_MAX];
		exception_text(why, sizeof(why));
		return cit_error_say(err, -ENOEXEC, "loading %s: %s", module, why);
	}
	entry = PyObject_GetAttrString(m, dot + 1);
	Py_DECREF(m);
	PyObject *inspect = entry ? PyImport_ImportModule("inspect") : NULL;
	PyObject *co = inspect ? PyObject_CallMethod(inspect, "iscoroutinefunction", "O", entry) : NULL;
	bool async = co == Py_True;
	Py_XDECREF(co);
	Py_XDECREF(inspect);
	PyErr_Clear();
	if (async)
		return cit_error_say(err, -EINVAL, "%s is an async function: a handler is a plain def (run a coroutine "
				     "with asyncio.run() inside it)", want);
	if (!entry || !PyCallable_Check(entry)) {
		PyErr_Clear();
		return cit_error_say(err, -ENOEXEC, "module %s defines no function %s (the entry point is %s; "
				     "--handler MODULE.FUNCTION names another; a script to run as a program is "
				     "deployed with --bundle DIR -- SCRIPT)", module, dot + 1, want);
	}
	gc_freeze();
	return 0;
}

/* ---- forks and calls ----------------------------------------------------------------------- */

/* The instance's own temporary directory (its private one, in TMPDIR since it was
 * confined) where Python reads it: os.environ (read at start-up, in the zygote) and
 * tempfile's cache. */
static void own_tmpdir(void)
{
	const char *dir = getenv("TMPDIR");
	PyObject *os = PyImport_ImportModule("os"), *environ = os ? PyObject_GetAttrString(os, "environ") : NULL;
	PyObject *key = PyUnicode_FromString("TMPDIR"), *value = dir ? PyUnicode_DecodeFSDefault(dir) : NULL;
	if (environ && key && value)
		PyObject_SetItem(environ, key, value);
	PyObject *name = PyUnicode_FromString("tempfile"), *tempfile = name ? PyImport_GetModule(name) : NULL;
	if (tempfile)
		PyObject_SetAttrString(tempfile, "tempdir", Py_None);
	Py_XDECREF(tempfile);
	Py_XDECREF(name);
	Py_XDECREF(value);
	Py_XDECREF(key);
	Py_XDECREF(environ);
	Py_XDECREF(os);
	PyErr_Clear();
}

static void py_fork(int when)
{
	if (when < 0) {
		PyOS_BeforeFork();
	} else if (when == 0) {
		PyOS_AfterFork_Child(); /* os.register_at_fork's hooks: random is seeded anew */
		own_tmpdir();
	} else {
		PyOS_AfterFork_Parent();
	}
}

/* Whether type (a request's content type) says JSON: application/json, or any +json. */
static bool says_json(const char *type)
{
	size_t n = strcspn(type, ";");
	while (n && type[n - 1] == ' ')
		n--;
	return (n == 16 && !strncasecmp(type, "application/json", 16)) || (n > 5 && !strncasecmp(type + n - 5, "+json", 5));
}

/* The call's context object (citadel.Context). */
static PyObject *make_context(const struct cit_request *req)
{
	PyObject *http = Py_None;
	Py_INCREF(http);
	if (req->http) {
		PyObject *headers = PyDict_New();
		for (size_t i = 0; headers && i < req->http->n_headers; i++) {
			char name[300];
			snprintf(name, sizeof(name), "%s", req->http->headers[i].name);
			for (char *c = name; *c; c++)
				*c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
			PyObject *v = PyUnicode_DecodeLatin1(req->http->headers[i].value,
							     (Py_ssize_t)strlen(req->http->headers[i].value), NULL);
			if (v && !PyDict_GetItemString(headers, name))
				PyDict_SetItemString(headers, name, v);
			Py_XDECREF(v);
		}
		PyObject *cls = headers ? PyObject_GetAttrString(PyImport_AddModule("citadel"), "HTTPRequest") : NULL;
		Py_DECREF(http);
		http = cls ? PyObject_CallFunction(cls, "sssO", req->http->method, req->http->path, req->http->query,
						   headers)
			   : NULL;
		Py_XDECREF(cls);
		Py_XDECREF(headers);
		if (!http)
			return NULL;
	}
	PyObject *ctx = PyObject_CallFunction(context_type, "sKsO", req->function, (unsigned long long)req->invocation,
					      req->content_type ? req->content_type : "", http);
	Py_DECREF(http);
	return ctx;
}

/* The handler's return value as the response: bytes-like as they are, str as UTF-8 (text/
 * plain), None as nothing, anything else as JSON (application/json). */
static int respond_with(PyObject *ret, struct cit_response *resp, bool typed)
{
	if (ret == Py_None)
		return 0;
	if (PyObject_TypeCheck(ret, &object_type)) {
		CitObject *o = (CitObject *)ret;
		if (!o->valid)
			return -ESTALE;
		if (o->output)
			return 0; /* the buffer is the response already */
		if (o->ref) {
			struct cit_object obj = { .data = o->data, .len = (size_t)o->len, .ref = o->ref };
			return cit_respond_object(resp, &obj);
		}
		return cit_respond(resp, o->len ? o->data : "", (size_t)o->len);
	}
	if (PyUnicode_Check(ret)) {
		Py_ssize_t n;
		const char *s = PyUnicode_AsUTF8AndSize(ret, &n);
		if (!s)
			return -EILSEQ;
		if (!typed)
			cit_set_content_type(resp, "text/plain; charset=utf-8");
		return cit_respond(resp, s, (size_t)n);
	}
	if (PyObject_CheckBuffer(ret)) {
		Py_buffer b;
		if (PyObject_GetBuffer(ret, &b, PyBUF_SIMPLE) < 0)
			return -EINVAL;
		int rc = cit_respond(resp, b.buf, (size_t)b.len);
		PyBuffer_Release(&b);
		return rc;
	}
	/* Strict JSON: NaN and Infinity are no JSON (RFC 8259). */
	PyObject *args = PyTuple_Pack(1, ret), *kw = Py_BuildValue("{s:O}", "allow_nan", Py_False);
	PyObject *text = args && kw ? PyObject_Call(json_dumps, args, kw) : NULL;
	Py_XDECREF(args);
	Py_XDECREF(kw);
	if (!text)
		return -EINVAL;
	Py_ssize_t n;
	const char *s = PyUnicode_AsUTF8AndSize(text, &n);
	int rc = s ? cit_respond(resp, s, (size_t)n) : -EINVAL;
	if (!typed)
		cit_set_content_type(resp, "application/json");
	Py_DECREF(text);
	return rc;
}

static int py_invoke(struct cit_runtime *rt, const struct cit_request *req, struct cit_response *resp)
{
	(void)rt;
	char why[CIT_TEXT_MAX];
	current_resp = resp;
	int rc = 0;
	current_rt = rt;
	PyObject *event = NULL, *ctx = NULL, *ret = NULL, *input = NULL;
	if (req->n_inputs) {
		/* A fan-in step: its inputs, a list of Objects. */
		event = PyList_New((Py_ssize_t)req->n_inputs);
		for (size_t i = 0; event && i < req->n_inputs; i++) {
			const struct cit_object *in = &req->inputs[i];
			PyObject *o = object_new(in->data, in->len, in->ref, in->step, false);
			if (!o) {
				Py_CLEAR(event);
				break;
			}
			PyList_SET_ITEM(event, (Py_ssize_t)i, o);
		}
	} else {
		event = PyBytes_FromStringAndSize(req->data ? req->data : "", (Py_ssize_t)req->len);
	}
	if (event && !req->n_inputs && req->content_type && says_json(req->content_type)) {
		PyObject *parsed = PyObject_CallFunctionObjArgs(json_loads, event, NULL);
		Py_DECREF(event);
		event = parsed;
		if (!event) {
			exception_text(why, sizeof(why));
			cit_set_status(resp, 400); /* the caller's mistake */
			rc = cit_fail(resp, -EINVAL, "the request says it is JSON (%s) and is not: %s", req->content_type, why);
			goto out;
		}
	}
	if (event)
		ctx = make_context(req);
	if (ctx && req->input)
		input = object_new(req->input->data, req->input->len, req->input->ref, NULL, false);
	if (ctx && input && PyObject_SetAttrString(ctx, "input", input) < 0)
		Py_CLEAR(ctx);
	if (ctx)
		ret = PyObject_CallFunctionObjArgs(entry, event, ctx, NULL);
	if (!ret) {
		exception_text(why, sizeof(why));
		rc = cit_fail(resp, -EIO, "%s", why);
		goto out;
	}
	PyObject *status = PyObject_GetAttrString(ctx, "status"), *ctype = PyObject_GetAttrString(ctx, "content_type_out");
	if (status && status != Py_None) {
		long s = PyLong_AsLong(status);
		if (s < 200 || s > 599 || cit_set_status(resp, (int)s) < 0) {
			PyErr_Clear();
			rc = cit_fail(resp, -EINVAL, "context.status must be an HTTP status from 200 to 599");
		}
	}
	bool typed = false;
	if (rc == 0 && ctype && ctype != Py_None) {
		const char *t = PyUnicode_Check(ctype) ? PyUnicode_AsUTF8(ctype) : NULL;
		if (!t || cit_set_content_type(resp, t) < 0) {
			PyErr_Clear();
			rc = cit_fail(resp, -EINVAL, "context.content_type_out must be 1 to 127 printable ASCII "
				      "characters beginning with a letter");
		}
		typed = true;
	}
	Py_XDECREF(status);
	Py_XDECREF(ctype);
	PyErr_Clear();
	if (rc == 0 && (rc = respond_with(ret, resp, typed)) < 0 && rc != -EFBIG) {
		if (PyErr_Occurred())
			exception_text(why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", strerror(-rc));
		rc = cit_fail(resp, rc, rc == -ESTALE ? "the returned citadel.Object is no longer valid (its call ended, or a "
				  "later citadel.output replaced it)%s"
				  : rc == -EBUSY ? "the response is the output buffer (citadel.output) already: return it%s"
				  : "the return value is not bytes, str or JSON-serialisable: %s", rc == -ESTALE || rc == -EBUSY ? "" : why);
	}
out:
	Py_XDECREF(ret);
	Py_XDECREF(ctx);
	Py_XDECREF(event);
	Py_XDECREF(input);
	objects_end();
	current_resp = NULL;
	current_rt = NULL;
	return rc;
}

const struct cit_runtime_ops cit_runtime_python = {
	.name = "python",
	.layer = CIT_SC_LAYER_NATIVE,
	.prepare = py_prepare,
	.load = py_load,
	.fork = py_fork,
	.invoke = py_invoke,
};
