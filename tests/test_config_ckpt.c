/* io/config (INI, --set, every error message, canonical text round trip, validation) and
 * io/ckpt (write/read round trip, keep-K, newest chosen, temporaries ignored, damaged
 * newest skipped with a warning, every tensor-mismatch error). Fatal paths run in a
 * forked child whose stderr is captured. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/common.h"
#include "core/unet.h"
#include "io/ckpt.h"
#include "io/config.h"
#include "io/h5.h"
#include "io/model_load.h"
#include "tests/testlib.h"

static char g_dir[256];

/* ---- helpers ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = xfopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Run fn(arg) in a child; its stderr goes to out. Returns the child's exit status
 * (or 128+signal). */
static int run_child(void (*fn)(void *), void *arg, char *out, size_t n)
{
    int fd[2];
    if (pipe(fd) != 0) ddm_die("pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) ddm_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 1);
        fn(arg);
        fflush(stderr);
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd[0], out + got, n - 1 - got)) > 0 && got < n - 1) got += (size_t)r;
    out[got] = '\0';
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void first_line(char *dst, size_t n, const char *s)
{
    size_t l = strcspn(s, "\n");
    snprintf(dst, n, "%.*s", (int)l, s);
}

/* child must die (non-zero) with a message containing want */
static void expect_death(const char *what, void (*fn)(void *), void *arg, const char *want)
{
    char out[4096], line[512];
    int rc = run_child(fn, arg, out, sizeof out);
    first_line(line, sizeof line, out);
    check(rc != 0 && strstr(out, want) != NULL, "%s: exit %d, \"%s\"%s", what, rc, line,
          strstr(out, want) ? "" : " <- expected the message to contain it");
    if (!strstr(out, want)) printf("    wanted: %s\n", want);
}

/* ---- config ---- */

static void expect_err(const char *what, int rc, const char *err, const char *want)
{
    check(rc == -1 && strstr(err, want) != NULL, "%s: \"%s\"", what, rc == -1 ? err : "(no error)");
    if (!(rc == -1 && strstr(err, want))) printf("    wanted: %s\n", want);
}

static void test_defaults(void)
{
    DdmConfig c;
    config_defaults(&c);
    check(c.model.ch == 32 && c.model.n_ch_mult == 3 && c.model.ch_mult[0] == 1 &&
              c.model.ch_mult[1] == 2 && c.model.ch_mult[2] == 2 && c.model.num_res_blocks == 2 &&
              c.model.n_attn == 1 && c.model.attn_resolutions[0] == 8 && c.model.groups == 8 &&
              c.model.dropout == 0 && c.model.num_classes == 0 && c.model.image_size == 32 &&
              c.model.channels == 1,
          "defaults: [model] ch=32 ch_mult=1,2,2 num_res_blocks=2 attn=8 groups=8 dropout=0 "
          "classes=0 size=32 channels=1");
    check(c.diffusion.process == PROC_VP && c.diffusion.schedule == SCHED_LINEAR &&
              c.diffusion.timesteps == 1000 && c.diffusion.beta_start == 1e-4 &&
              c.diffusion.beta_end == 0.02 && c.diffusion.prediction == PRED_EPS &&
              c.diffusion.loss == LOSS_SIMPLE && c.diffusion.sigma_min == 0.01 &&
              c.diffusion.sigma_max == 50 && c.diffusion.num_scales == 232,
          "defaults: [diffusion] vp linear T=1000 1e-4..0.02 eps simple 0.01..50 L=232");
    check(c.train.batch == 64 && c.train.lr == 2e-4 && c.train.warmup == 500 &&
              c.train.weight_decay == 0 && c.train.grad_clip == 1.0 && c.train.n_ema == 1 &&
              c.train.ema[0] == 0.9999 && c.train.max_steps == 10000 && c.train.log_every == 50 &&
              c.train.ckpt_every == 1000 && c.train.keep == 3 && c.train.preview_every == 0 &&
              c.train.seed == 0 && c.train.p_uncond == 0.1 && c.train.threads == 0 &&
              c.train.flip == 0 && c.train.task == TASK_DIFFUSION && c.train.adam_beta1 == 0.9 &&
              c.train.adam_beta2 == 0.999 && c.train.adam_eps == 1e-8,
          "defaults: [train] batch=64 lr=2e-4 warmup=500 ... adam 0.9/0.999/1e-8");
    char err[256] = "";
    check(config_validate(&c, err, sizeof err) == 0, "defaults validate (%s)", err[0] ? err : "ok");
    UNetConfig u, ud;
    config_to_unet(&c, &u);
    unet_config_default(&ud);
    check(u.ch == ud.ch && u.n_levels == ud.n_levels &&
              !memcmp(u.ch_mult, ud.ch_mult, sizeof u.ch_mult) &&
              u.num_res_blocks == ud.num_res_blocks && u.n_attn == ud.n_attn &&
              u.attn_res[0] == ud.attn_res[0] && u.groups == ud.groups && u.dropout == ud.dropout &&
              u.num_classes == ud.num_classes && u.image_size == ud.image_size &&
              u.in_ch == ud.in_ch && u.out_ch == ud.out_ch,
          "config_to_unet(defaults) == unet_config_default");
    SchedConfig s;
    config_to_sched(&c, &s);
    check(s.process == PROC_VP && s.timesteps == 1000 && s.beta_end == 0.02 && s.num_scales == 232,
          "config_to_sched carries [diffusion]");
}

static void test_ini(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/a.ini", g_dir);
    write_file(path, "# a ddm config\n"
                     "; another comment\n"
                     "[model]\n"
                     "ch = 64\n"
                     "ch_mult = 1, 2, 2, 4   # four levels\n"
                     "attn_resolutions =\n"
                     "  dropout=0.1\n"
                     "\n"
                     "[diffusion]\n"
                     "process = ve\n"
                     "schedule = cosine\n"
                     "[train]\n"
                     "lr = 1e-3 ; inline\n"
                     "ema = 0.999, 0.9999\n"
                     "seed = 18446744073709551615\n"
                     "max_steps = 123456789012\n"
                     "task = classifier\n");
    DdmConfig c;
    config_defaults(&c);
    char err[256] = "";
    int rc = config_load_ini(&c, path, err, sizeof err);
    check(rc == 0, "load INI with comments, lists, an empty list (%s)", rc ? err : "ok");
    check(c.model.ch == 64 && c.model.n_ch_mult == 4 && c.model.ch_mult[3] == 4 &&
              c.model.n_attn == 0 && c.model.dropout == 0.1,
          "[model] values: ch=64 ch_mult=1,2,2,4 attn=(none) dropout=0.1");
    check(c.diffusion.process == PROC_VE && c.diffusion.schedule == SCHED_COSINE,
          "[diffusion] choices: ve cosine");
    check(c.train.lr == 1e-3 && c.train.n_ema == 2 && c.train.ema[0] == 0.999 &&
              c.train.ema[1] == 0.9999 && c.train.seed == UINT64_MAX &&
              c.train.max_steps == 123456789012LL && c.train.task == TASK_CLASSIFIER,
          "[train] values: lr=1e-3 ema=0.999,0.9999 seed=2^64-1 max_steps=123456789012");
    check(c.model.groups == 8 && c.train.batch == 64, "keys not in the file keep their values");

    struct {
        const char *what, *text, *want;
    } bad[] = {
        {"unknown key", "[train]\nlr = 1\nlrr = 2\n", "b.ini:3: unknown key 'lrr' in [train]"},
        {"key in the wrong section", "[model]\nbatch = 8\n",
         "b.ini:2: unknown key 'batch' in [model] (it belongs in [train])"},
        {"unknown section", "[modle]\nch = 3\n", "b.ini:1: unknown section [modle]"},
        {"bad number", "\n[train]\nlr = abc\n", "b.ini:3: bad value 'abc' for train.lr (a number)"},
        {"bad integer", "[train]\nbatch = 6.5\n", "bad value '6.5' for train.batch (an integer)"},
        {"bad choice", "[diffusion]\nprocess = sde\n",
         "bad value 'sde' for diffusion.process (one of vp|ve)"},
        {"bad list", "[model]\nch_mult = 1,,2\n",
         "bad value '1,,2' for model.ch_mult (a comma-separated list of integers"},
        {"empty value", "[model]\nch =\n", "bad value '' for model.ch (an integer)"},
        {"negative seed", "[train]\nseed = -1\n",
         "bad value '-1' for train.seed (a non-negative integer)"},
        {"key before a section", "ch = 3\n", "b.ini:1: key 'ch' before any [section]"},
        {"no '='", "[model]\nch 32\n", "b.ini:2: expected 'key = value' or '[section]'"},
        {"bad section line", "[model\n", "b.ini:1: bad section line"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/b.ini", g_dir);
        write_file(path, bad[i].text);
        config_defaults(&c);
        err[0] = '\0';
        rc = config_load_ini(&c, path, err, sizeof err);
        char what[128];
        snprintf(what, sizeof what, "INI error, %s", bad[i].what);
        expect_err(what, rc, err, bad[i].want);
    }
    snprintf(path, sizeof path, "%s/missing.ini", g_dir);
    rc = config_load_ini(&c, path, err, sizeof err);
    expect_err("INI error, missing file", rc, err, "missing.ini: cannot open: No such file");
}

static void test_set(void)
{
    DdmConfig c;
    config_defaults(&c);
    char err[256] = "";
    int rc = config_set(&c, "train.lr=1e-3", err, sizeof err);
    rc |= config_set(&c, "batch = 32", err, sizeof err);
    rc |= config_set(&c, "model.attn_resolutions=16,8", err, sizeof err);
    rc |= config_set(&c, "model.attn_resolutions=", err, sizeof err);
    rc |= config_set(&c, "diffusion.prediction=v", err, sizeof err);
    check(rc == 0 && c.train.lr == 1e-3 && c.train.batch == 32 && c.model.n_attn == 0 &&
              c.diffusion.prediction == PRED_V,
          "--set section.key=value, bare key=value, lists, empty list, choice (%s)",
          rc ? err : "ok");
    rc = config_set(&c, "train.lr=abc", err, sizeof err);
    expect_err("--set bad value", rc, err,
               "--set train.lr=abc: bad value 'abc' for train.lr (a number)");
    rc = config_set(&c, "train.x=1", err, sizeof err);
    expect_err("--set unknown key", rc, err, "--set train.x=1: unknown key 'x' in [train]");
    rc = config_set(&c, "trian.lr=1", err, sizeof err);
    expect_err("--set unknown section", rc, err, "--set trian.lr=1: unknown section [trian]");
    rc = config_set(&c, "model.lr=1", err, sizeof err);
    expect_err("--set key of another section", rc, err,
               "--set model.lr=1: unknown key 'lr' in [model]");
    rc = config_set(&c, "foo=1", err, sizeof err);
    expect_err("--set unknown bare key", rc, err, "--set foo=1: unknown key 'foo'");
    rc = config_set(&c, "train.lr", err, sizeof err);
    expect_err("--set without '='", rc, err, "--set train.lr: expected section.key=value");
    check(c.train.lr == 1e-3, "a failed --set leaves the value alone");
}

static void test_validate(void)
{
    struct {
        const char *set, *want;
    } bad[] = {
        {"train.lr=-1", "train.lr = -1: must be >= 0"},
        {"train.batch=0", "train.batch = 0: must be >= 1"},
        {"model.groups=5", "model.groups = 5 does not divide model.ch = 32"},
        {"model.ch=36", "model.groups = 8 does not divide model.ch = 36"},
        {"diffusion.timesteps=0", "diffusion.timesteps = 0: must be >= 1"},
        {"model.attn_resolutions=5",
         "model.attn_resolutions: 5 is not a resolution of the network (32,16,8)"},
        {"model.image_size=30", "model.image_size = 30: must be divisible by 4"},
        {"diffusion.beta_end=0.00001", "diffusion.beta_end = 1e-05: must be in [beta_start, 1)"},
        {"diffusion.sigma_max=0.001", "diffusion.sigma_max = 0.001: must be > sigma_min = 0.01"},
        {"train.ema=1.5", "train.ema entry 1 is 1.5: a decay rate must be in (0, 1)"},
        {"train.p_uncond=2", "train.p_uncond = 2: must be in [0, 1]"},
        {"train.flip=2", "train.flip = 2: must be 0 or 1"},
        {"train.task=classifier", "train.task = classifier needs model.num_classes >= 2"},
        {"train.task=noisy-classifier", "train.task = noisy-classifier needs model.num_classes >= 2"},
        {"model.ch=100000", "model.ch = 100000 x model.ch_mult entry 1 (1) = 100000 channels: at most 8192"},
        {"model.dropout=1", "model.dropout = 1: must be in [0, 1)"},
        {"train.keep=0", "train.keep = 0: must be >= 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        DdmConfig c;
        config_defaults(&c);
        char err[256] = "";
        if (config_set(&c, bad[i].set, err, sizeof err)) {
            check(0, "validate %s: --set failed: %s", bad[i].set, err);
            continue;
        }
        int rc = config_validate(&c, err, sizeof err);
        char what[128];
        snprintf(what, sizeof what, "validate %s", bad[i].set);
        expect_err(what, rc, err, bad[i].want);
    }
    DdmConfig c;
    config_defaults(&c);
    char err[256] = "";
    config_set(&c, "diffusion.process=ve", err, sizeof err);
    config_set(&c, "diffusion.prediction=x0", err, sizeof err);
    expect_err("validate ve + x0", config_validate(&c, err, sizeof err), err,
               "the ve process trains eps (the NCSN score) only");
}

static void test_text_roundtrip(void)
{
    DdmConfig a, b;
    config_defaults(&a);
    char *t = config_to_text(&a);
    config_defaults(&b);
    b.model.ch = 999; /* must be overwritten by the text */
    char err[256] = "";
    int rc = config_parse_text(&b, t, "(text)", err, sizeof err);
    check(rc == 0 && config_equal(&a, &b), "to_text(defaults) parses back to the same config (%s)",
          rc ? err : "ok");
    free(t);

    const char *sets[] = {"train.lr=3.0000000000000004e-05",
                          "train.ema=0.999,0.9999,0.99995",
                          "model.attn_resolutions=",
                          "train.seed=9223372036854775813",
                          "model.ch_mult=1,1,2,2,4",
                          "diffusion.beta_start=0.1234567890123456789",
                          "diffusion.process=ve",
                          "diffusion.loss=simple",
                          "train.task=classifier",
                          "train.max_steps=5000000000",
                          "model.dropout=0.3",
                          "train.adam_eps=1e-12"};
    config_defaults(&a);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (config_set(&a, sets[i], err, sizeof err)) check(0, "set %s: %s", sets[i], err);
    t = config_to_text(&a);
    /* parse over a config whose every value differs from a's */
    config_defaults(&b);
    config_set(&b, "model.attn_resolutions=16,8,4", err, sizeof err);
    config_set(&b, "train.ema=0.5", err, sizeof err);
    config_set(&b, "train.lr=1", err, sizeof err);
    rc = config_parse_text(&b, t, "(text)", err, sizeof err);
    int same = rc == 0 && config_equal(&a, &b) && b.train.lr == a.train.lr && b.train.n_ema == 3 &&
               b.train.ema[2] == 0.99995 && b.model.n_attn == 0 &&
               b.train.seed == 9223372036854775813ULL &&
               b.diffusion.beta_start == a.diffusion.beta_start &&
               b.train.max_steps == 5000000000LL && b.train.adam_eps == 1e-12;
    check(same, "to_text round trip of odd values (17-digit doubles, empty list, 3 EMA rates, "
                "2^63+5 seed)");
    char *t2 = config_to_text(&b);
    check(!strcmp(t, t2), "to_text is canonical (text -> config -> text is identical)");
    char head[64];
    snprintf(head, sizeof head, "%s", t);
    for (char *q = head; *q; q++)
        if (*q == '\n') *q = '|';
    printf("    canonical text starts: %s...\n", head);
    free(t);
    free(t2);

    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    config_print_keys(f);
    fclose(f);
    int all = 1;
    for (int i = 0; i < config_num_keys(); i++) {
        const CfgKey *k = config_key(i);
        char want[128];
        snprintf(want, sizeof want, "%s.%s = %s", k->section, k->name, *k->def ? k->def : "(none)");
        if (!strstr(buf, want)) {
            all = 0;
            printf("    missing in help: %s\n", want);
        }
    }
    check(all && strstr(buf, "train.lr = 0.0002") && strstr(buf, "(vp|ve)"),
          "config_print_keys lists all %d keys with defaults (%zu bytes)", config_num_keys(), blen);
    free(buf);
}

/* ---- checkpoints ---- */

static const TensorInfo T3[] = {
    {"conv.weight", 4, {4, 2, 3, 3}, 0, 72},
    {"conv.bias", 1, {4, 0, 0, 0}, 72, 4},
    {"norm.weight", 1, {4, 0, 0, 0}, 76, 4},
};
#define NP3 80

static float g_model[NP3], g_ema1[NP3], g_ema2[NP3], g_m[NP3], g_v[NP3];

static CkptBlocks blocks_of(float *model, float *e1, float *e2, float *m, float *v)
{
    CkptBlocks b;
    memset(&b, 0, sizeof b);
    b.tensors = T3;
    b.n_tensors = 3;
    b.model = model;
    b.n_ema = 2;
    b.ema_rate[0] = 0.999;
    b.ema_rate[1] = 0.9999;
    b.ema[0] = e1;
    b.ema[1] = e2;
    b.m = m;
    b.v = v;
    return b;
}

static int count_ckpts(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '^ckpt-[0-9]*\\.h5$'", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static char g_run[300];

static void child_find_latest(void *arg)
{
    (void)arg;
    char *p = NULL;
    int64_t step = -1;
    int ok = ckpt_find_latest(g_run, &p, &step);
    fprintf(stderr, "found=%d step=%lld\n", ok, (long long)step);
}

typedef struct {
    const TensorInfo *t;
    int n;
} Table;

static void child_load_table(void *arg)
{
    const Table *tb = arg;
    static float buf[4096];
    CkptBlocks b;
    memset(&b, 0, sizeof b);
    b.tensors = tb->t;
    b.n_tensors = tb->n;
    b.model = buf;
    char *p = ckpt_path(g_run, 40);
    ckpt_load(p, &b, NULL);
}

static void child_load_rate(void *arg)
{
    float buf[NP3];
    char *p = ckpt_path(g_run, 40);
    ckpt_load_weights(p, T3, 3, buf, *(double *)arg, NULL);
}

static void child_load_dataset_as_ckpt(void *arg)
{
    CkptBlocks b = blocks_of(g_model, NULL, NULL, NULL, NULL);
    b.n_ema = 0;
    ckpt_load((const char *)arg, &b, NULL);
}

static void test_ckpt(void)
{
    snprintf(g_run, sizeof g_run, "%s/run", g_dir);
    test_fill_uniform(g_model, NP3, -1, 1, 1);
    test_fill_uniform(g_ema1, NP3, -1, 1, 2);
    test_fill_uniform(g_ema2, NP3, -1, 1, 3);
    test_fill_uniform(g_m, NP3, -1, 1, 4);
    test_fill_uniform(g_v, NP3, 0, 1, 5);
    DdmConfig cfg;
    config_defaults(&cfg);
    char *cfg_text = config_to_text(&cfg);
    CkptBlocks b = blocks_of(g_model, g_ema1, g_ema2, g_m, g_v);
    CkptMeta meta;
    memset(&meta, 0, sizeof meta);
    meta.config_text = cfg_text;
    meta.rng_bytes = 40;
    for (int i = 0; i < 40; i++) meta.rng[i] = (uint8_t)(i * 7 + 1);
    meta.wall_time = 12.5;
    char *last = NULL;
    for (int64_t step = 10; step <= 40; step += 10) {
        meta.step = step;
        meta.images_seen = step * 64;
        meta.epoch = step / 25;
        meta.data_pos = step % 25 * 64;
        g_model[0] = (float)step; /* tell the checkpoints apart */
        free(last);
        last = ckpt_write(g_run, &b, &meta, 3);
    }
    check(count_ckpts(g_run) == 3, "keep=3 after 4 writes: %d ckpt-*.h5 files left",
          count_ckpts(g_run));
    char *p10 = ckpt_path(g_run, 10), *p20 = ckpt_path(g_run, 20);
    check(access(p10, F_OK) != 0 && access(p20, F_OK) == 0,
          "the oldest (step 10) was deleted, step 20 kept");
    char *found = NULL;
    int64_t fstep = -1;
    int ok = ckpt_find_latest(g_run, &found, &fstep);
    check(ok && fstep == 40 && !strcmp(found, last), "newest chosen: %s", ok ? found : "(none)");
    free(found);

    /* read back everything */
    float m2[NP3], e1[NP3], e2[NP3], mm[NP3], vv[NP3];
    memset(m2, 0, sizeof m2);
    CkptBlocks r = blocks_of(m2, e1, e2, mm, vv);
    CkptMeta got;
    char *lp = NULL;
    ok = ckpt_load_latest(g_run, &r, &got, &lp);
    check(ok && !memcmp(m2, g_model, sizeof m2) && !memcmp(e1, g_ema1, sizeof e1) &&
              !memcmp(e2, g_ema2, sizeof e2) && !memcmp(mm, g_m, sizeof mm) &&
              !memcmp(vv, g_v, sizeof vv),
          "round trip: model, ema 0.999, ema 0.9999, optim m, v bit-identical (%s)", lp ? lp : "-");
    check(got.step == 40 && got.images_seen == 40 * 64 && got.epoch == 1 &&
              got.data_pos == 15 * 64 && got.rng_bytes == 40 && !memcmp(got.rng, meta.rng, 40) &&
              got.wall_time == 12.5 && !strcmp(got.version, DDM_VERSION) &&
              !strcmp(got.config_text, cfg_text),
          "round trip: step, images_seen, epoch, data_pos, rng bytes, wall time, version, config");
    DdmConfig back;
    config_defaults(&back);
    char err[256];
    check(config_parse_text(&back, got.config_text, "ckpt", err, sizeof err) == 0 &&
              config_equal(&back, &cfg),
          "the stored config parses back to the config in force");
    ckpt_meta_free(&got);
    free(lp);

    double rates[8];
    int nr = ckpt_ema_rates(last, rates, 8);
    check(nr == 2 && rates[0] == 0.999 && rates[1] == 0.9999, "EMA rates listed: %d (%g, %g)", nr,
          nr > 0 ? rates[0] : -1, nr > 1 ? rates[1] : -1);
    float w[NP3];
    ckpt_load_weights(last, T3, 3, w, 0.9999, NULL);
    check(!memcmp(w, g_ema2, sizeof w), "load for sampling: ema 0.9999 only");
    ckpt_load_weights(last, T3, 3, w, -1, NULL);
    check(!memcmp(w, g_model, sizeof w), "load for sampling: raw model (rate < 0)");
    char *res = ckpt_resolve(g_run);
    check(!strcmp(res, last), "ckpt_resolve(RUN_DIR) -> newest checkpoint");
    free(res);
    res = ckpt_resolve(p20);
    check(!strcmp(res, p20), "ckpt_resolve(FILE) -> the file");
    free(res);

    /* newer junk: a temporary, a truncated checkpoint, a file of another kind */
    char tmp[400], cmd[1024];
    char *p90 = ckpt_path(g_run, 90);
    snprintf(tmp, sizeof tmp, "%s.tmp-999999", p90);
    free(p90);
    snprintf(cmd, sizeof cmd, "cp %s %s", last, tmp);
    check(system(cmd) == 0, "made a newer temporary %s", strrchr(tmp, '/') + 1);
    char *p50 = ckpt_path(g_run, 50), *p60 = ckpt_path(g_run, 60);
    struct stat st;
    stat(last, &st);
    snprintf(cmd, sizeof cmd, "head -c %lld %s > %s", (long long)st.st_size / 2, last, p50);
    check(system(cmd) == 0, "made a truncated newer checkpoint (ckpt-00000050.h5, half the bytes)");
    hid_t f = h5_create(p60, H5P_DEFAULT);
    h5_set_kind(f, "dataset");
    h5_close(f);
    char out[4096];
    run_child(child_find_latest, NULL, out, sizeof out);
    check(strstr(out, "found=1 step=40") && strstr(out, "ckpt-00000050.h5: skipped") &&
              strstr(out, "ckpt-00000060.h5: skipped") && !strstr(out, "tmp-999999"),
          "newest that opens is chosen (40): the truncated 50 and non-checkpoint 60 skipped with "
          "a warning, the temporary ignored");
    printf("    | %.*s\n", (int)strcspn(out, "\n"), out);
    unlink(p50);
    unlink(p60);
    free(p50);
    free(p60);

    /* mismatches name the file and the tensor */
    TensorInfo t[4];
    memcpy(t, T3, sizeof T3);
    t[0].shape[2] = t[0].shape[3] = 5;
    t[0].size = 200;
    t[1].offset = t[2].offset = 0;
    Table tb = {t, 3};
    expect_death(
        "shape mismatch", child_load_table, &tb,
        "ckpt-00000040.h5: /model/conv.weight has shape [4,2,3,3], the model expects [4,2,5,5]");
    memcpy(t, T3, sizeof T3);
    t[3] = T3[2];
    snprintf(t[3].name, sizeof t[3].name, "extra.bias");
    tb.n = 4;
    expect_death("tensor missing from the file", child_load_table, &tb,
                 "/model has no tensor 'extra.bias' (the model expects it, shape [4])");
    tb.n = 2;
    expect_death("tensor the model lacks", child_load_table, &tb,
                 "/model has a tensor 'norm.weight' the model does not have");
    double rate = 0.5;
    expect_death("missing EMA rate", child_load_rate, &rate,
                 "has no EMA weights at rate 0.5 (it has: 0.999, 0.9999)");
    char dpath[300];
    snprintf(dpath, sizeof dpath, "%s/d.h5", g_dir);
    f = h5_create(dpath, H5P_DEFAULT);
    h5_set_kind(f, "dataset");
    h5_close(f);
    expect_death("wrong kind", child_load_dataset_as_ckpt, dpath,
                 "d.h5: is a ddm 'dataset' file, expected a 'checkpoint' file");

    /* empty and missing folders */
    char empty[300];
    snprintf(empty, sizeof empty, "%s/empty", g_dir);
    mkdir(empty, 0777);
    found = NULL;
    check(ckpt_find_latest(empty, &found, &fstep) == 0, "an empty run folder has no checkpoint");
    snprintf(empty, sizeof empty, "%s/nonexistent", g_dir);
    check(ckpt_find_latest(empty, &found, &fstep) == 0, "a missing run folder has no checkpoint");

    /* the prune also removes stale temporaries */
    meta.step = 100;
    free(last);
    last = ckpt_write(g_run, &b, &meta, 3);
    check(access(tmp, F_OK) != 0 && count_ckpts(g_run) == 3,
          "a new checkpoint removes the stale temporary and keeps 3");
    free(last);
    free(p10);
    free(p20);
    free(cfg_text);
}

/* ---- io/model_load: one loader, one EMA policy ------------------------------------- */

static char g_ml_path[400];

static void child_model_load(void *arg)
{
    LoadedModel m;
    model_load(&m, g_ml_path, arg);
}

static void test_model_load(void)
{
    char dir[350], err[512];
    snprintf(dir, sizeof dir, "%s/mlrun", g_dir);
    DdmConfig cfg;
    config_defaults(&cfg);
    const char *sets[] = {"model.ch=8", "model.ch_mult=1,2", "model.num_res_blocks=1", "model.attn_resolutions=4",
                          "model.groups=4", "model.image_size=8", "model.channels=1", "train.ema=0.9,0.99"};
    for (int i = 0; i < 8; i++)
        if (config_set(&cfg, sets[i], err, sizeof err)) ddm_die("%s", err);
    UNetConfig uc;
    config_to_unet(&cfg, &uc);
    UNet *probe = unet_init(&uc, 1, 0);
    const size_t np = unet_num_params(probe);
    float *model = xalloc_floats(np), *e1 = xalloc_floats(np), *e2 = xalloc_floats(np);
    for (size_t i = 0; i < np; i++) {
        model[i] = 1;
        e1[i] = 2;
        e2[i] = 3;
    }
    CkptBlocks b;
    memset(&b, 0, sizeof b);
    b.tensors = unet_tensor(probe, 0);
    b.n_tensors = unet_num_tensors(probe);
    b.model = model;
    b.n_ema = 2;
    b.ema_rate[0] = 0.9;
    b.ema_rate[1] = 0.99;
    b.ema[0] = e1;
    b.ema[1] = e2;
    CkptMeta meta;
    memset(&meta, 0, sizeof meta);
    meta.step = 7;
    meta.config_text = config_to_text(&cfg);
    ckpt_meta_set_seed(&meta, 42);
    char *path = ckpt_write(dir, &b, &meta, 0);
    snprintf(g_ml_path, sizeof g_ml_path, "%s", path);

    ModelLoadOptions o = {NULL, 0, TASK_DIFFUSION, NULL, 0};
    LoadedModel m;
    model_load(&m, dir, &o); /* a run folder: its newest checkpoint */
    char word[64];
    model_load_weights_word(&m, word, sizeof word);
    check(m.step == 7 && m.n_params == np && m.ema_rate == 0.9 && m.weights[0] == 2 && m.path[0] == '/' &&
              !strcmp(word, "ema:0.9"),
          "model_load default: the first rate of train.ema (%s, step %lld, %zu params)", word, (long long)m.step,
          m.n_params);
    model_load_free(&m);
    o.ema_rate = 0.99;
    model_load(&m, path, &o);
    check(m.ema_rate == 0.99 && m.weights[np - 1] == 3, "model_load: the EMA rate asked for");
    model_load_free(&m);
    o.weights = "raw";
    o.ema_rate = 0;
    model_load(&m, path, &o);
    model_load_weights_word(&m, word, sizeof word);
    check(m.ema_rate < 0 && m.weights[0] == 1 && !strcmp(word, "raw"), "model_load raw: /model (%s)", word);
    model_load_free(&m);
    ModelLoadOptions bad_rate = {"ema", 0.5, TASK_DIFFUSION, NULL, 0};
    expect_death("model_load: a rate the file does not have", child_model_load, &bad_rate,
                 "has no EMA weights at rate 0.5 (it has: 0.9, 0.99)");
    ModelLoadOptions bad_task = {NULL, 0, TASK_CLASSIFIER, NULL, 1};
    expect_death("model_load: a diffusion checkpoint where a classifier is needed", child_model_load, &bad_task,
                 "is a checkpoint of a diffusion model");
    CkptMeta back;
    memset(&back, 0, sizeof back);
    ckpt_read_meta(path, &back);
    int64_t seed = 0;
    const int has_seed = ckpt_meta_seed(&back, &seed);
    check(has_seed && seed == 42, "the 'rng' attribute holds the seed (%lld)", (long long)seed);
    ckpt_meta_free(&back);
    free(meta.config_text);
    free(path);
    free(model);
    free(e1);
    free(e2);
    unet_free(probe);
}

int main(void)
{
    h5_quiet();
    snprintf(g_dir, sizeof g_dir, "/tmp/ddm-test-config-ckpt.%ld", (long)getpid());
    if (mkdir(g_dir, 0777) != 0) ddm_die("%s: %s", g_dir, strerror(errno));
    test_defaults();
    test_ini();
    test_set();
    test_validate();
    test_text_roundtrip();
    test_ckpt();
    test_model_load();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) printf("(could not remove %s)\n", g_dir);
    return test_summary();
}
