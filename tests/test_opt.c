/* core/opt (every type parsed, formatted and read back; ranges, choices, lists at
 * capacity, non-finite numbers refused with their messages; '-' == '_'; help lines),
 * io/ini (locations, comments, sweep tokens, duplicate sections and keys, keys before
 * a section) and io/config through them (canonical text byte-identical to the text the
 * config wrote before the option tables; duplicate keys refused). */
#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/opt.h"
#include "io/config.h"
#include "io/ini.h"
#include "tests/testlib.h"

/* ---- a struct with one value of every type ---- */

#define CAP 4 /* list capacity */

typedef struct {
    int count, level;
    int64_t big;
    uint64_t seed;
    double eta;
    int fast, skip, pred;
    char *label;
    int n_res, res[CAP];
    int n_rates;
    double rates[CAP];
    int per_seed;
    OptMulti set;
} Opts;

#define O(f) offsetof(Opts, f)
static const OptSpec ROWS[] = {
    {.name = "count", .type = OPT_INT, .offset = O(count), .def = "3", .help = "an int"},
    {.name = "level", .type = OPT_INT, .offset = O(level), .def = "1", .help = "an int in [1, 10]",
     .min = 1, .max = 10},
    {.name = "big", .type = OPT_I64, .offset = O(big), .def = "-5", .help = "an int64"},
    {.name = "seed", .type = OPT_U64, .offset = O(seed), .def = "7", .help = "a uint64"},
    {.name = "eta", .type = OPT_F64, .offset = O(eta), .def = "0", .unit = "", .help = "a double >= 0",
     .min = 0, .max = DBL_MAX},
    {.name = "fast", .type = OPT_BOOL, .offset = O(fast), .def = "0", .help = "a bool"},
    {.name = "skip", .type = OPT_CHOICE, .offset = O(skip), .choices = "uniform|quadratic",
     .def = "uniform", .help = "a choice of two"},
    {.name = "pred", .type = OPT_CHOICE, .offset = O(pred), .choices = "eps|x0|v", .def = "x0",
     .help = "a choice of three"},
    {.name = "label", .type = OPT_STR, .offset = O(label), .def = "none", .meta = "NAME",
     .help = "a string"},
    {.name = "attn_res", .type = OPT_INT_LIST, .offset = O(res), .count_offset = O(n_res),
     .def = "8,16", .unit = "pixels", .help = "an int list", .list_max = CAP},
    {.name = "ema_rates", .type = OPT_F64_LIST, .offset = O(rates), .count_offset = O(n_rates),
     .def = "0.9999", .help = "a double list in [0, 1]", .min = 0, .max = 1, .list_max = CAP},
    {.name = "class-per-seed", .type = OPT_FLAG, .offset = O(per_seed), .help = "a flag"},
    {.name = "set", .type = OPT_MULTI, .offset = O(set), .meta = "K=V", .help = "repeatable",
     .required = 1},
    {0},
};

static const OptSpec *row(const char *name) { return opt_find(ROWS, -1, NULL, name); }

/* opt_set must fail with exactly want, leaving the value as it was */
static void expect_refused(const char *name, const char *text, const char *want)
{
    Opts a, b;
    memset(&a, 0, sizeof a);
    opt_defaults(ROWS, -1, &a);
    b = a;
    char err[256] = "";
    int rc = opt_set(row(name), &a, text, err, sizeof err);
    check(rc == -1 && !strcmp(err, want) && !memcmp(&a, &b, sizeof a),
          "%s = '%s' refused, value kept: '%s'", name, text, err);
}

/* opt_set(text) -> opt_format -> opt_set gives an equal value and the same text */
static void expect_roundtrip(const char *name, const char *text, const char *canonical)
{
    const OptSpec *o = row(name);
    Opts a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    char err[256] = "", t1[256] = "", t2[256] = "";
    int rc = opt_set(o, &a, text, err, sizeof err);
    opt_format(o, &a, t1, sizeof t1);
    rc |= opt_set(o, &b, t1, err, sizeof err);
    opt_format(o, &b, t2, sizeof t2);
    check(rc == 0 && opt_equal(o, &a, &b) && !strcmp(t1, t2) && (!canonical || !strcmp(t1, canonical)),
          "%s: '%s' -> '%s' -> equal value (%s)", name, text, t1, rc ? err : "ok");
}

static void test_types(void)
{
    check(opt_count(ROWS) == 13, "opt_count: 13 rows");
    Opts a;
    memset(&a, 0, sizeof a);
    opt_defaults(ROWS, -1, &a);
    check(a.count == 3 && a.level == 1 && a.big == -5 && a.seed == 7 && a.eta == 0 && a.fast == 0 &&
              a.skip == 0 && a.pred == 1 && !strcmp(a.label, "none") && a.n_res == 2 &&
              a.res[1] == 16 && a.n_rates == 1 && a.rates[0] == 0.9999 && a.per_seed == 0 &&
              a.set.n == 0,
          "opt_defaults sets every row with a default");

    expect_roundtrip("count", "-2147483648", "-2147483648");
    expect_roundtrip("count", "2147483647", "2147483647");
    expect_roundtrip("level", "10", "10");
    expect_roundtrip("big", "-9223372036854775808", "-9223372036854775808");
    expect_roundtrip("big", "9223372036854775807", "9223372036854775807");
    expect_roundtrip("seed", "18446744073709551615", "18446744073709551615");
    expect_roundtrip("eta", "1e-4", "0.0001");
    expect_roundtrip("eta", "1e-8", "1e-08");
    expect_roundtrip("eta", "50.0", "50");
    expect_roundtrip("eta", "0.30000000000000004", "0.30000000000000004");
    expect_roundtrip("eta", "0.1", "0.1");
    expect_roundtrip("eta", "1e300", "1e+300");
    expect_roundtrip("eta", "123456789012345678", "1.2345678901234568e+17");
    expect_roundtrip("fast", "1", "1");
    expect_roundtrip("fast", "0", "0");
    expect_roundtrip("skip", "quadratic", "quadratic");
    expect_roundtrip("pred", "v", "v");
    expect_roundtrip("label", "hello world", "hello world");
    expect_roundtrip("attn_res", " 1, 2 ,-3,4 ", "1,2,-3,4");
    expect_roundtrip("attn_res", "", "");
    expect_roundtrip("ema_rates", "0.999, 0.9999,1,0", "0.999,0.9999,1,0");
    expect_roundtrip("ema_rates", "  ", "");
    expect_roundtrip("class-per-seed", "1", "1");

    /* flags and repeatable options */
    memset(&a, 0, sizeof a);
    char err[256] = "";
    int rc = opt_set(row("class-per-seed"), &a, NULL, err, sizeof err);
    check(rc == 0 && a.per_seed == 1, "a bare flag sets 1");
    rc = opt_set(row("set"), &a, "train.lr=1", err, sizeof err);
    rc |= opt_set(row("set"), &a, "batch=8", err, sizeof err);
    check(rc == 0 && a.set.n == 2 && !strcmp(a.set.v[1], "batch=8"), "OPT_MULTI collects values in order");
    opt_multi_free(&a.set);
    check(a.set.n == 0 && a.set.v == NULL, "opt_multi_free empties it");

    /* equality */
    Opts x, y;
    memset(&x, 0, sizeof x);
    opt_defaults(ROWS, -1, &x);
    y = x;
    x.eta = 0.0;
    y.eta = -0.0;
    check(!opt_equal(row("eta"), &x, &y), "opt_equal: -0 and 0 differ (their texts do)");
    y = x;
    y.res[1] = 32;
    check(!opt_equal(row("attn_res"), &x, &y), "opt_equal: lists compare their entries");
    y.res[1] = x.res[1];
    y.res[3] = 99; /* past the count: not in force */
    check(opt_equal(row("attn_res"), &x, &y), "opt_equal: entries past the count are ignored");
}

static void test_refused(void)
{
    expect_refused("eta", "abc", "bad value 'abc' for eta: want a number");
    expect_refused("eta", "-1", "eta = -1: must be >= 0");
    expect_refused("eta", "nan", "bad value 'nan' for eta: want a number");
    expect_refused("eta", "inf", "bad value 'inf' for eta: want a number");
    expect_refused("eta", "-inf", "bad value '-inf' for eta: want a number");
    expect_refused("eta", "1e999", "bad value '1e999' for eta: want a number");
    /* strtod's ERANGE: underflow to a subnormal is refused as the config always did */
    expect_refused("eta", "1e-320", "bad value '1e-320' for eta: want a number");
    expect_refused("eta", "", "bad value '' for eta: want a number");
    expect_refused("eta", "0.5x", "bad value '0.5x' for eta: want a number");
    expect_refused("level", "0", "level = 0: must be >= 1");
    expect_refused("level", "11", "level = 11: must be <= 10");
    expect_refused("count", "6.5", "bad value '6.5' for count: want a whole number");
    expect_refused("count", "2147483648", "bad value '2147483648' for count: want a whole number");
    expect_refused("big", "9223372036854775808",
                   "bad value '9223372036854775808' for big: want a whole number");
    expect_refused("seed", "-1", "bad value '-1' for seed: want a whole number >= 0");
    expect_refused("fast", "2", "bad value '2' for fast: want 0 or 1");
    expect_refused("skip", "7", "bad value '7' for skip: want uniform or quadratic");
    expect_refused("pred", "eps ", "bad value 'eps ' for pred: want eps, x0 or v");
    expect_refused("attn_res", "1,2,3,4,5", "bad value '1,2,3,4,5' for attn_res: at most 4 entries");
    expect_refused("attn_res", "1,,2",
                   "bad value '1,,2' for attn_res: want a comma-separated list of whole numbers");
    expect_refused("attn_res", "1,", "bad value '1,' for attn_res: want a comma-separated list of whole numbers");
    expect_refused("ema_rates", "0.5,2", "ema_rates entry 2 = 2: must be <= 1");
    expect_refused("ema_rates", "0.5,nan",
                   "bad value '0.5,nan' for ema_rates: want a comma-separated list of numbers");
    expect_refused("class-per-seed", "yes", "bad value 'yes' for class-per-seed: want 0 or 1");
    Opts a;
    memset(&a, 0, sizeof a);
    char err[256] = "";
    int rc = opt_set(row("attn_res"), &a, "1,2,3,4", err, sizeof err);
    check(rc == 0 && a.n_res == 4 && a.res[3] == 4, "a list at its capacity (4 entries) is taken");
}

static void test_find_help(void)
{
    check(opt_find(ROWS, -1, NULL, "class_per_seed") == &ROWS[11] &&
              opt_find(ROWS, -1, NULL, "attn-res") == &ROWS[9] &&
              opt_find(ROWS, -1, NULL, "ema-rates") == &ROWS[10],
          "opt_find: '-' and '_' are the same in names");
    check(!opt_find(ROWS, -1, NULL, "attn") && !opt_find(ROWS, -1, NULL, "attn_res_") &&
              !opt_find(ROWS, 3, NULL, "seed"),
          "opt_find: no prefix matches; n limits the rows searched");
    check(opt_find(ROWS, -1, "model", "count") == NULL, "opt_find: a section must match when given");
    const CfgKey *k = config_find_key("train.max-steps");
    check(k && !strcmp(k->name, "max_steps") && config_find_key("num-res-blocks") == config_key(2),
          "config keys: '-' == '_' too");

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    opt_print_help(f, ROWS, -1, "--");
    opt_print_help(f, ROWS, 2, "");
    fclose(f);
    printf("%s", buf);
    check(strstr(buf, "  --count N                  an int (default 3)\n") &&
              strstr(buf, "  --attn_res N,N,...         an int list (default 8,16, unit pixels)\n") &&
              strstr(buf, "  --class-per-seed           a flag\n") &&
              strstr(buf, "  --set K=V                  repeatable (required)\n") &&
              strstr(buf, "  --skip uniform|quadratic   a choice of two (default uniform)\n") &&
              strstr(buf, "  level = N                  an int in [1, 10] (default 1)\n"),
          "opt_print_help: '--name META' and 'name = META' lines with default, unit, required");
    free(buf);
    char wb[64];
    check(!strcmp(opt_want(row("pred"), wb, sizeof wb), "eps, x0 or v") &&
              !strcmp(opt_want(row("attn_res"), wb, sizeof wb),
                      "a comma-separated list of whole numbers"),
          "opt_want: choices and lists");
}

/* ---- io/ini ---- */

static void expect_ini_error(const char *what, const char *text, int flags, IniErrKind kind,
                             const char *want)
{
    IniFile ini;
    char err[256] = "";
    int rc = ini_parse_text(text, "t.ini", flags, &ini, err, sizeof err);
    check(rc == -1 && ini.n == 0 && ini.err_kind == kind && !strcmp(err, want), "ini: %s: '%s'",
          what, err);
    ini_free(&ini);
}

static void test_ini(void)
{
    const char *text = "# a comment\n"
                       "; another\n"
                       "[ model ]\n"
                       "ch = 64   # inline comment\n"
                       "  tag=a#1;b ; the '#' and ';' inside a value stay\n"
                       "empty =\n"
                       "\n"
                       "[train]\r\n"
                       "lr = 1e-3\r\n";
    IniFile ini;
    char err[256] = "";
    int rc = ini_parse_text(text, "t.ini", INI_UNIQUE_KEYS, &ini, err, sizeof err);
    check(rc == 0 && ini.n == 2 && !strcmp(ini.sec[0].name, "model") &&
              !strcmp(ini.sec[1].name, "train") && ini.sec[0].n == 3 && ini.sec[1].n == 1,
          "ini: 2 sections in file order, entries in order (%s)", rc ? err : "ok");
    if (!rc) {
        const IniSection *m = &ini.sec[0];
        check(!strcmp(m->e[0].key, "ch") && !strcmp(m->e[0].value, "64") &&
                  !strcmp(m->e[1].key, "tag") && !strcmp(m->e[1].value, "a#1;b") &&
                  !strcmp(m->e[2].key, "empty") && !strcmp(m->e[2].value, "") &&
                  !strcmp(ini.sec[1].e[0].value, "1e-3"),
              "ini: values trimmed, comments start at line start or after a blank, empty values");
        check(!strcmp(m->where, "t.ini:3") && !strcmp(m->e[0].where, "t.ini:4") &&
                  !strcmp(m->e[2].where, "t.ini:6") && !strcmp(ini.sec[1].e[0].where, "t.ini:9"),
              "ini: FILE:LINE of sections and entries");
        check(ini_section(&ini, "train") == &ini.sec[1] && !ini_section(&ini, "x"),
              "ini_section finds by name");
    }
    ini_free(&ini);

    expect_ini_error("section twice", "[a]\nx = 1\n[b]\n[a]\n", 0, INI_ERR_DUP_SECTION,
                     "t.ini:4: section [a] appears twice (t.ini:1)");
    expect_ini_error("key twice", "[a]\nx = 1\nx-y = 2\nx_y = 3\n", INI_UNIQUE_KEYS,
                     INI_ERR_DUP_KEY, "t.ini:4: key 'x_y' appears twice in [a] (t.ini:3)");
    rc = ini_parse_text("[a]\nx = 1\nx = 2\n", "t.ini", 0, &ini, err, sizeof err);
    check(rc == 0 && ini.sec[0].n == 2, "ini: without INI_UNIQUE_KEYS a key may repeat");
    ini_free(&ini);
    expect_ini_error("key before a section", "# c\nx = 1\n[a]\n", 0, INI_ERR_ORPHAN,
                     "t.ini:2: 'x = 1' before the first [section]");
    expect_ini_error("no '='", "[a]\nnonsense\n", 0, INI_ERR_SYNTAX,
                     "t.ini:2: expected key = value, got 'nonsense'");
    expect_ini_error("empty key", "[a]\n = 3\n", 0, INI_ERR_SYNTAX,
                     "t.ini:2: expected key = value, got '= 3'");
    expect_ini_error("open header", "[a\n", 0, INI_ERR_HEADER,
                     "t.ini:1: bad section header '[a' (want [NAME], no '/')");
    expect_ini_error("'/' in a header", "[a/b]\n", 0, INI_ERR_HEADER,
                     "t.ini:1: bad section header '[a/b]' (want [NAME], no '/')");
    expect_ini_error("empty header", "[]\n", 0, INI_ERR_HEADER,
                     "t.ini:1: bad section header '[]' (want [NAME], no '/')");
    expect_ini_error("header with a leading '.'", "[.x]\n", 0, INI_ERR_HEADER,
                     "t.ini:1: section name '.x' may not start with '.'");

    /* the sweep syntax of ddm sample (tests/t_sample.sh) */
    const char *sweep = "# cheap and costly settings mixed\n"
                        "[ddim-10]\n"
                        "sampler = ddim\n"
                        "steps = 10\n"
                        "eta = 0\n"
                        "[ddim-20]  sampler = ddim  steps = 20\n"
                        "[ddpm-50]\n"
                        "sampler = ddpm   ; ancestral\n"
                        "steps\t=\t50 eta= 1\n";
    rc = ini_parse_text(sweep, "s.ini", INI_TOKENS | INI_UNIQUE_KEYS, &ini, err, sizeof err);
    check(rc == 0 && ini.n == 3 && ini.sec[1].n == 2 && !strcmp(ini.sec[1].e[1].key, "steps") &&
              !strcmp(ini.sec[1].e[1].value, "20") && !strcmp(ini.sec[1].where, "s.ini:6") &&
              !strcmp(ini.sec[1].e[1].where, "s.ini:6") && ini.sec[2].n == 3 &&
              !strcmp(ini.sec[2].e[1].value, "50") && !strcmp(ini.sec[2].e[2].value, "1") &&
              !strcmp(ini.sec[2].e[2].where, "s.ini:9"),
          "ini tokens: several key=value and [section] per line, locations (%s)", rc ? err : "ok");
    ini_free(&ini);
    expect_ini_error("tokens: empty value", "[a] steps =\n", INI_TOKENS, INI_ERR_SYNTAX,
                     "t.ini:1: expected key = value, got 'steps='");
    expect_ini_error("tokens: before a section", "steps = 3 [a]\n", INI_TOKENS, INI_ERR_ORPHAN,
                     "t.ini:1: 'steps=3' before the first [section]");
    expect_ini_error("tokens: key twice", "[a] steps=3\nsteps=4\n", INI_TOKENS | INI_UNIQUE_KEYS,
                     INI_ERR_DUP_KEY, "t.ini:2: key 'steps' appears twice in [a] (t.ini:1)");

    rc = ini_load("/nonexistent/x.ini", 0, &ini, err, sizeof err);
    check(rc == -1 && ini.err_kind == INI_ERR_IO &&
              !strcmp(err, "/nonexistent/x.ini: cannot open: No such file or directory"),
          "ini_load: a missing file: '%s'", err);
}

/* ---- io/config through the tables ---- */

/* config_to_text as the config wrote it before core/opt.c and io/ini.c (bin/ddm of commit
 * 2bb842c): the defaults, and a config of awkward values set with config_set */
static const char *OLD_DEFAULTS_TEXT =
    "[model]\n"
    "ch = 32\n"
    "ch_mult = 1,2,2\n"
    "num_res_blocks = 2\n"
    "attn_resolutions = 8\n"
    "groups = 8\n"
    "dropout = 0\n"
    "num_classes = 0\n"
    "image_size = 32\n"
    "channels = 1\n"
    "cond_channels = 0\n" /* added with SR3 */
    "\n"
    "[diffusion]\n"
    "process = vp\n"
    "schedule = linear\n"
    "timesteps = 1000\n"
    "beta_start = 0.0001\n"
    "beta_end = 0.02\n"
    "prediction = eps\n"
    "loss = simple\n"
    "sigma_min = 0.01\n"
    "sigma_max = 50\n"
    "num_scales = 232\n"
    "\n"
    "[train]\n"
    "batch = 64\n"
    "lr = 0.0002\n"
    "warmup = 500\n"
    "weight_decay = 0\n"
    "grad_clip = 1\n"
    "ema = 0.9999\n"
    "max_steps = 10000\n"
    "log_every = 50\n"
    "ckpt_every = 1000\n"
    "keep = 3\n"
    "preview_every = 0\n"
    "seed = 0\n"
    "p_uncond = 0.1\n"
    "threads = 0\n"
    "flip = 0\n"
    "degrade = \n" /* added with SR3 */
    "task = diffusion\n"
    "adam_beta1 = 0.9\n"
    "adam_beta2 = 0.999\n"
    "adam_eps = 1e-08\n";
static const char *TRICKY_SETS[] = {
    "model.dropout=0.333333333333333314829616256247", "diffusion.beta_start=0.30000000000000004",
    "diffusion.sigma_max=1e20", "diffusion.sigma_min=1.5e-300", "train.lr=1e-3",
    "train.ema=0.999,0.9999,0.5", "train.seed=18446744073709551615",
    "train.max_steps=-123456789012", "model.attn_resolutions=", "diffusion.process=ve",
    "diffusion.prediction=v", "train.task=classifier", "train.grad_clip=-0",
    "train.weight_decay=123456789012345678"};
static const char *OLD_TRICKY_TEXT =
    "[model]\n"
    "ch = 32\n"
    "ch_mult = 1,2,2\n"
    "num_res_blocks = 2\n"
    "attn_resolutions = \n"
    "groups = 8\n"
    "dropout = 0.3333333333333333\n"
    "num_classes = 0\n"
    "image_size = 32\n"
    "channels = 1\n"
    "cond_channels = 0\n" /* added with SR3 */
    "\n"
    "[diffusion]\n"
    "process = ve\n"
    "schedule = linear\n"
    "timesteps = 1000\n"
    "beta_start = 0.30000000000000004\n"
    "beta_end = 0.02\n"
    "prediction = v\n"
    "loss = simple\n"
    "sigma_min = 1.5e-300\n"
    "sigma_max = 1e+20\n"
    "num_scales = 232\n"
    "\n"
    "[train]\n"
    "batch = 64\n"
    "lr = 0.001\n"
    "warmup = 500\n"
    "weight_decay = 1.2345678901234568e+17\n"
    "grad_clip = -0\n"
    "ema = 0.999,0.9999,0.5\n"
    "max_steps = -123456789012\n"
    "log_every = 50\n"
    "ckpt_every = 1000\n"
    "keep = 3\n"
    "preview_every = 0\n"
    "seed = 18446744073709551615\n"
    "p_uncond = 0.1\n"
    "threads = 0\n"
    "flip = 0\n"
    "degrade = \n" /* added with SR3 */
    "task = classifier\n"
    "adam_beta1 = 0.9\n"
    "adam_beta2 = 0.999\n"
    "adam_eps = 1e-08\n";

static void test_config(void)
{
    DdmConfig c, d;
    config_defaults(&c);
    char *t = config_to_text(&c);
    check(!strcmp(t, OLD_DEFAULTS_TEXT), "config_to_text(defaults) is byte-identical to the old text (plus the SR3 keys)");
    free(t);
    char err[256] = "";
    int rc = 0;
    for (size_t i = 0; i < sizeof TRICKY_SETS / sizeof TRICKY_SETS[0]; i++)
        rc |= config_set(&c, TRICKY_SETS[i], err, sizeof err);
    t = config_to_text(&c);
    check(rc == 0 && !strcmp(t, OLD_TRICKY_TEXT),
          "config_to_text of awkward values is byte-identical to the old text, plus the SR3 keys (%s)", rc ? err : "ok");
    config_defaults(&d);
    rc = config_parse_text(&d, t, "tricky", err, sizeof err);
    check(rc == 0 && config_equal(&c, &d), "that text parses back to an equal config");
    free(t);

    config_defaults(&c);
    d = c;
    rc = config_parse_text(&c, "[train]\nlr = 1\nbatch = 8\nlr = 2\n", "b.ini", err, sizeof err);
    check(rc == -1 && !strcmp(err, "b.ini:4: key 'lr' appears twice in [train] (b.ini:2)") &&
              config_equal(&c, &d),
          "config: a key given twice is refused, nothing applied: '%s'", err);
    rc = config_parse_text(&c, "[train]\nlr = 1\n[model]\nch = 8\n[train]\nbatch = 8\n", "b.ini",
                           err, sizeof err);
    check(rc == -1 && !strcmp(err, "b.ini:5: section [train] appears twice (b.ini:1)"),
          "config: a section given twice is refused: '%s'", err);
    rc = config_parse_text(&c, "[train]\nlr = 0.5\nbatch = x\n", "b.ini", err, sizeof err);
    check(rc == -1 && config_equal(&c, &d), "config: a bad value applies nothing of the file");
    rc = config_load_ini(&c, "configs/fmnist.ini", err, sizeof err);
    check(rc == 0 && c.train.lr == 5e-4, "the shipped configs/fmnist.ini loads (%s)", rc ? err : "ok");
}

int main(void)
{
    test_types();
    test_refused();
    test_find_help();
    test_ini();
    test_config();
    return test_summary();
}
