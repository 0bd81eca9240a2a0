/* The image links of a WAT record's JSON, by one forward walk over its bytes.
 *
 * page(payload) gives what curate.core.extract.wat's _Tree.raw_page gives for the same
 * document: (page URL, Head/Base as written, [(src, alt, title), ...]) or None when the
 * record has no HTML-Metadata object. It is called only on a payload simdjson has just
 * parsed, so the bytes are known to be valid JSON in UTF-8; the walk still checks every
 * step it takes and never reads past the payload. Whatever it does not handle itself it
 * refuses, by returning NotImplemented, and the Python route (the simdjson tree) decides:
 * a key written with an escape, a \u escape of a lone surrogate, anything unexpected.
 *
 * Why C: on CommonCrawl's WATs (~175 links a page, a tenth of them images) the Python
 * walk of simdjson's objects took two thirds of wat_page's time (a Python object per link
 * and per field looked at); here a link that is not an image costs a pass over its bytes,
 * and Python objects are made only for the image links' three fields.
 *
 * Semantics, as the Python route's: at every level the first of a repeated key wins; a
 * level that is not an object (or a missing key) gives None; Links not an array gives no
 * links; an element of Links that is not an object, or whose first "path" is not the
 * string "IMG@/src", is not an image link; a field that is not a string is None.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef const char *ptr;

/* A JSON string of the payload: its bytes between the quotes, and whether it has escapes. */
typedef struct {
    ptr start, end;
    int escaped;
} Span;

static ptr skip_ws(ptr p, ptr end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* The next `"` or `\` from q (end when none): sixteen bytes at a time where SSE2 is (every
 * x86-64), eight elsewhere. A string's bytes are most of a WAT record; a memchr call per
 * string cost more than the links' short strings themselves. */
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
static ptr quote_or_backslash(ptr q, ptr end) {
    const __m128i quotes = _mm_set1_epi8('"'), backslashes = _mm_set1_epi8('\\');
    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)q);
        int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quotes),
                                                  _mm_cmpeq_epi8(v, backslashes)));
        if (mask)
            return q + __builtin_ctz((unsigned int)mask);
        q += 16;
    }
    while (q < end && *q != '"' && *q != '\\')
        q++;
    return q;
}
#else
#define ONES 0x0101010101010101ULL
/* Whether any byte of v is zero (the word-at-a-time test: exact for "any"). */
#define ZERO_BYTE(v) (((v) - ONES) & ~(v) & (ONES * 0x80))
static ptr quote_or_backslash(ptr q, ptr end) {
    while (end - q >= 8) {
        uint64_t v;
        memcpy(&v, q, 8);
        if (ZERO_BYTE(v ^ (ONES * '"')) | ZERO_BYTE(v ^ (ONES * '\\')))
            break;
        q += 8;
    }
    while (q < end && *q != '"' && *q != '\\')
        q++;
    return q;
}
#endif

/* p at an opening quote: the byte after the closing one (span set), or NULL. */
static ptr read_string(ptr p, ptr end, Span *span) {
    ptr q = p + 1;
    span->start = q;
    span->escaped = 0;
    for (;;) {
        q = quote_or_backslash(q, end);
        if (q >= end)
            return NULL;
        if (*q == '"')
            break;
        span->escaped = 1;
        q += 2;   /* the escaped character: never the string's end */
        if (q > end)
            return NULL;
    }
    span->end = q;
    return q + 1;
}

/* p at a value: the byte after it, or NULL. */
static ptr skip_value(ptr p, ptr end) {
    Span ignored;
    if (p >= end)
        return NULL;
    if (*p == '"')
        return read_string(p, end, &ignored);
    if (*p == '{' || *p == '[') {
        Py_ssize_t depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = read_string(p, end, &ignored);
                if (p == NULL)
                    return NULL;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n'
           && *p != '\r' && *p != '\t')
        p++;   /* a number, true, false or null */
    return p;
}

/* The members of an object, one at a time. */
typedef struct {
    ptr p, end;
    int first;
} Members;

/* Start at p, an object's `{` (0), or not an object (-1: nothing to walk). */
static int members_start(Members *m, ptr p, ptr end) {
    if (p >= end || *p != '{')
        return -1;
    m->p = p + 1;
    m->end = end;
    m->first = 1;
    return 0;
}

enum { MEMBER = 1, OBJECT_END = 0, REFUSED = -1 };

/* The next member: MEMBER with its key and m->p at its value, OBJECT_END (m->p past the
 * `}`), or REFUSED (a key written with an escape: it may spell any name; or bytes that are
 * not an object's). */
static int members_next(Members *m, Span *key) {
    ptr p = skip_ws(m->p, m->end);
    if (p >= m->end)
        return REFUSED;
    if (*p == '}') {
        m->p = p + 1;
        return OBJECT_END;
    }
    if (!m->first) {
        if (*p != ',')
            return REFUSED;
        p = skip_ws(p + 1, m->end);
    }
    m->first = 0;
    if (p >= m->end || *p != '"')
        return REFUSED;
    p = read_string(p, m->end, key);
    if (p == NULL || key->escaped)
        return REFUSED;
    p = skip_ws(p, m->end);
    if (p >= m->end || *p != ':')
        return REFUSED;
    m->p = skip_ws(p + 1, m->end);
    return m->p < m->end ? MEMBER : REFUSED;
}

/* Past the value of the current member: 0, or REFUSED. */
static int members_skip(Members *m) {
    m->p = skip_value(m->p, m->end);
    return m->p != NULL ? 0 : REFUSED;
}

static int key_is(const Span *key, const char *name, size_t length) {
    return (size_t)(key->end - key->start) == length && memcmp(key->start, name, length) == 0;
}

#define KEY_IS(key, literal) key_is((key), (literal), sizeof(literal) - 1)

static int hex4(ptr p, ptr end, unsigned int *value) {
    if (end - p < 4)
        return -1;
    unsigned int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned int)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned int)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned int)(c - 'A' + 10);
        else
            return -1;
    }
    *value = v;
    return 0;
}

static char *put_utf8(char *out, unsigned int cp) {
    if (cp < 0x80) {
        *out++ = (char)cp;
    } else if (cp < 0x800) {
        *out++ = (char)(0xC0 | (cp >> 6));
        *out++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *out++ = (char)(0xE0 | (cp >> 12));
        *out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *out++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *out++ = (char)(0xF0 | (cp >> 18));
        *out++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *out++ = (char)(0x80 | (cp & 0x3F));
    }
    return out;
}

/* The escapes of a string undone into out (at least as long as the span: nothing decodes
 * longer than it is written); the decoded length, or -1 to refuse. */
static Py_ssize_t unescape(const Span *s, char *out) {
    char *o = out;
    ptr p = s->start, end = s->end;
    while (p < end) {
        ptr slash = memchr(p, '\\', (size_t)(end - p));
        if (slash == NULL)
            slash = end;
        memcpy(o, p, (size_t)(slash - p));
        o += slash - p;
        p = slash;
        if (p >= end)
            break;
        if (end - p < 2)
            return -1;
        char c = p[1];
        p += 2;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned int cp, low;
            if (hex4(p, end, &cp) < 0)
                return -1;
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return -1;   /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &low) < 0
                    || low < 0xDC00 || low > 0xDFFF)
                    return -1;   /* a lone high surrogate */
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            o = put_utf8(o, cp);
            break;
        }
        default:
            return -1;
        }
    }
    return o - out;
}

/* A str of a string's span; NULL with *refused set, or with a Python error. */
static PyObject *span_str(const Span *s, int *refused) {
    Py_ssize_t length = s->end - s->start;
    PyObject *text = NULL;
    if (!s->escaped) {
        text = PyUnicode_DecodeUTF8(s->start, length, "strict");
    } else {
        char small[512];
        char *out = length <= (Py_ssize_t)sizeof small ? small : PyMem_Malloc((size_t)length);
        if (out == NULL)
            return PyErr_NoMemory();
        Py_ssize_t decoded = unescape(s, out);
        if (decoded < 0)
            *refused = 1;
        else
            text = PyUnicode_DecodeUTF8(out, decoded, "strict");
        if (out != small)
            PyMem_Free(out);
    }
    if (text == NULL && PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();   /* (simdjson checked the UTF-8: not expected) */
        *refused = 1;
    }
    return text;
}

/* A str of the JSON value at p when it is a string, else None (p NULL: None); NULL with
 * *refused set, or with a Python error. */
static PyObject *string_at(ptr p, ptr end, int *refused) {
    Span s;
    if (p == NULL || p >= end || *p != '"')
        Py_RETURN_NONE;
    if (read_string(p, end, &s) == NULL) {
        *refused = 1;
        return NULL;
    }
    return span_str(&s, refused);
}

static const char IMAGE_LINK[] = "IMG@/src";

/* Whether the value at p is the string "IMG@/src": 1, 0, or REFUSED. */
static int is_image_path(ptr p, ptr end) {
    Span s;
    char out[6 * sizeof IMAGE_LINK];
    if (p == NULL || p >= end || *p != '"')
        return 0;
    if (read_string(p, end, &s) == NULL)
        return REFUSED;
    if (KEY_IS(&s, IMAGE_LINK))
        return 1;
    if (s.end - s.start > (Py_ssize_t)sizeof out || !s.escaped)
        return 0;   /* (nothing longer than that spells IMG@/src with escapes) */
    Py_ssize_t decoded = unescape(&s, out);
    if (decoded < 0)
        return REFUSED;
    return decoded == (Py_ssize_t)sizeof IMAGE_LINK - 1
           && memcmp(out, IMAGE_LINK, sizeof IMAGE_LINK - 1) == 0;
}

/* The walk of one document: what it has found. A walk returns the byte after the value it
 * walked, or NULL to refuse (refused set) or for a Python error. */
typedef struct {
    ptr end;
    int refused;
    int meta_found;     /* the first HTML-Metadata (down the first of each level) is an object */
    ptr target;         /* where the first WARC-Header-Metadata's first WARC-Target-URI starts */
    ptr base;           /* where HTML-Metadata's first Head's first Base starts */
    PyObject *links;    /* the image links of HTML-Metadata's first Links */
} Walk;

#define REFUSE(w) ((w)->refused = 1, (ptr)NULL)

typedef ptr (*Step)(Walk *, ptr);

/* A member an object's walk looks for: the first of that name is walked by `step`, or,
 * without a step, where its value starts is kept in *found. */
typedef struct {
    const char *name;
    size_t length;
    Step step;
    ptr *found;
} Wanted;

#define NAMED(literal) literal, sizeof(literal) - 1

/* A value that is not an object, skipped: the byte after it, or NULL. */
static ptr skipped(Walk *w, ptr p) {
    p = skip_value(p, w->end);
    return p != NULL ? p : REFUSE(w);
}

/* An object, its wanted members walked or found, the others skipped (at most 8 wanted).
 * Not an object: skipped, nothing found. */
static ptr walk_object(Walk *w, ptr p, const Wanted *wanted, int count) {
    Members m;
    Span key;
    int status;
    unsigned int seen = 0;
    if (members_start(&m, p, w->end) < 0)
        return skipped(w, p);
    while ((status = members_next(&m, &key)) == MEMBER) {
        size_t length = (size_t)(key.end - key.start);
        const Wanted *hit = NULL;
        for (int i = 0; i < count; i++) {
            if (!(seen & (1u << i)) && length == wanted[i].length
                && memcmp(key.start, wanted[i].name, length) == 0) {
                seen |= 1u << i;
                hit = &wanted[i];
                break;
            }
        }
        if (hit != NULL && hit->step != NULL) {
            if ((m.p = hit->step(w, m.p)) == NULL)
                return NULL;
            continue;
        }
        if (hit != NULL)
            *hit->found = m.p;
        if (members_skip(&m) < 0)
            return REFUSE(w);
    }
    return status == OBJECT_END ? m.p : REFUSE(w);
}

/* An element of Links: appended to w->links when it is an image link. */
static ptr walk_link(Walk *w, ptr p) {
    ptr fields[4] = {NULL, NULL, NULL, NULL};   /* path, url, alt, title */
    const Wanted wanted[4] = {{NAMED("path"), NULL, &fields[0]}, {NAMED("url"), NULL, &fields[1]},
                              {NAMED("alt"), NULL, &fields[2]}, {NAMED("title"), NULL, &fields[3]}};
    p = walk_object(w, p, wanted, 4);
    if (p == NULL)
        return NULL;
    int image = is_image_path(fields[0], w->end);
    if (image == REFUSED)
        return REFUSE(w);
    if (image) {
        PyObject *link = PyTuple_New(3);
        if (link == NULL)
            return NULL;
        for (int i = 0; i < 3; i++) {
            PyObject *field = string_at(fields[i + 1], w->end, &w->refused);
            if (field == NULL) {
                Py_DECREF(link);
                return NULL;
            }
            PyTuple_SET_ITEM(link, i, field);
        }
        int failed = PyList_Append(w->links, link);
        Py_DECREF(link);
        if (failed)
            return NULL;
    }
    return p;
}

/* Links: its image links (not an array: none). */
static ptr walk_links(Walk *w, ptr p) {
    ptr end = w->end;
    if (*p != '[')
        return skipped(w, p);
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        if (p >= end)
            return REFUSE(w);
        if ((p = walk_link(w, p)) == NULL)
            return NULL;
        p = skip_ws(p, end);
        if (p < end && *p == ']')
            return p + 1;
        if (p >= end || *p != ',')
            return REFUSE(w);
        p = skip_ws(p + 1, end);
    }
}

/* The levels down to what page() gives, each the first of its name. */
static ptr walk_head(Walk *w, ptr p) {
    const Wanted wanted[1] = {{NAMED("Base"), NULL, &w->base}};
    return walk_object(w, p, wanted, 1);
}

static ptr walk_meta(Walk *w, ptr p) {
    const Wanted wanted[2] = {{NAMED("Head"), walk_head, NULL},
                              {NAMED("Links"), walk_links, NULL}};
    w->meta_found = *p == '{';
    return walk_object(w, p, wanted, 2);
}

static ptr walk_http(Walk *w, ptr p) {
    const Wanted wanted[1] = {{NAMED("HTML-Metadata"), walk_meta, NULL}};
    return walk_object(w, p, wanted, 1);
}

static ptr walk_payload(Walk *w, ptr p) {
    const Wanted wanted[1] = {{NAMED("HTTP-Response-Metadata"), walk_http, NULL}};
    return walk_object(w, p, wanted, 1);
}

static ptr walk_headers(Walk *w, ptr p) {
    const Wanted wanted[1] = {{NAMED("WARC-Target-URI"), NULL, &w->target}};
    return walk_object(w, p, wanted, 1);
}

static ptr walk_envelope(Walk *w, ptr p) {
    const Wanted wanted[2] = {{NAMED("WARC-Header-Metadata"), walk_headers, NULL},
                              {NAMED("Payload-Metadata"), walk_payload, NULL}};
    return walk_object(w, p, wanted, 2);
}

static ptr walk_root(Walk *w, ptr p) {
    const Wanted wanted[1] = {{NAMED("Envelope"), walk_envelope, NULL}};
    return walk_object(w, p, wanted, 1);
}

/* page(payload) -> (page_url, base, links) | None | NotImplemented (see the top). */
static PyObject *page(PyObject *module, PyObject *arg) {
    Py_buffer view;
    (void)module;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Walk w = {0};
    ptr p = view.buf;
    w.end = p + view.len;
    PyObject *found = NULL, *page_url = NULL, *base = NULL;
    if ((w.links = PyList_New(0)) == NULL)
        goto out;
    if (w.end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;   /* a UTF-8 byte order mark: simdjson and the stdlib skip it too */
    if (walk_root(&w, skip_ws(p, w.end)) == NULL)
        goto out;
    if (!w.meta_found) {
        found = Py_NewRef(Py_None);
        goto out;
    }
    if ((page_url = string_at(w.target, w.end, &w.refused)) == NULL
        || (base = string_at(w.base, w.end, &w.refused)) == NULL)
        goto out;
    found = PyTuple_Pack(3, page_url, base, w.links);
out:
    Py_XDECREF(page_url);
    Py_XDECREF(base);
    Py_XDECREF(w.links);
    PyBuffer_Release(&view);
    if (found == NULL && w.refused && !PyErr_Occurred())
        Py_RETURN_NOTIMPLEMENTED;
    return found;
}

static PyMethodDef methods[] = {
    {"page", page, METH_O,
     "page(payload) -> (page_url, base, [(src, alt, title), ...]) | None | NotImplemented\n\n"
     "The page URL, Head/Base as written and image links of a WAT record's JSON (valid\n"
     "JSON: simdjson has parsed it); None when it has no HTML-Metadata object;\n"
     "NotImplemented when the Python route must decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_watlinks",
    "The image links of a WAT record's JSON in one forward walk (curate.core.extract.wat).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__watlinks(void) {
    return PyModule_Create(&module);
}
