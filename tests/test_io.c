/* io/idx, io/png, io/dataset, io/fsio, io/json (and core/strbuf, core/pixels): round trips, the conversions pngio_read promises, the grid
 * layout, dataset rows across chunk boundaries, pad/resize against PyTorch values, and
 * the errors bad files must give (each run in a forked child: ddm_die ends a process). */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/common.h"
#include "core/metrics.h"
#include "core/pixels.h"
#include "core/strbuf.h"
#include "io/dataset.h"
#include "io/fsio.h"
#include "io/json.h"
#include "io/h5.h"
#include "io/idx.h"
#include "io/png.h"
#include "tests/testlib.h"

static char g_dir[64];

static char *tmp_path(const char *name)
{
    static char buf[8][256];
    static int k = 0;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", g_dir, name);
    return p;
}

/* Runs fn(arg) in a child; passes when the child exits non-zero and its stderr holds
 * every one of the (up to two) substrings. */
static void expect_die(const char *what, void (*fn)(const void *), const void *arg,
                       const char *want1, const char *want2)
{
    int fd[2];
    if (pipe(fd) != 0) { check(0, "%s: pipe failed", what); return; }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    char msg[1024];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof msg - 1 && (r = read(fd[0], msg + n, sizeof msg - 1 - n)) > 0) n += (size_t)r;
    msg[n] = '\0';
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    char *nl = strchr(msg, '\n');
    if (nl) *nl = '\0';
    int died = WIFEXITED(st) && WEXITSTATUS(st) != 0;
    int ok = died && strstr(msg, want1) && (!want2 || strstr(msg, want2));
    check(ok, "%s: %s [%s]", what, died ? "dies" : "does NOT die", msg);
}

/* ---- IDX ---------------------------------------------------------------------------- */

static uint8_t g_img[5 * 3 * 4];

static void read_images_of(const void *path)
{
    IdxData d;
    idx_read_images(path, 0, &d);
}

static void read_pair_of(const void *paths)
{
    const char *const *p = paths;
    IdxData d;
    idx_read(p[0], p[1], 0, &d);
}

static void cut_file(const char *from, const char *to, long keep)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    for (long i = 0; i < keep; i++) {
        int c = fgetc(a);
        if (c == EOF) break;
        fputc(c, b);
    }
    fclose(a);
    fclose(b);
}

static void test_idx(void)
{
    for (size_t i = 0; i < sizeof g_img; i++) g_img[i] = (uint8_t)(i * 37 + 5);
    uint8_t lab[5] = {3, 1, 4, 1, 5};
    uint32_t dims[3] = {5, 3, 4}, ldims[1] = {5}, ldims_bad[1] = {4};
    idx_write(tmp_path("im.idx"), IDX_MAGIC_IMAGES, dims, g_img, 0);
    idx_write(tmp_path("im.idx.gz"), IDX_MAGIC_IMAGES, dims, g_img, 1);
    idx_write(tmp_path("lb.idx.gz"), IDX_MAGIC_LABELS, ldims, lab, 1);
    idx_write(tmp_path("lb4.idx"), IDX_MAGIC_LABELS, ldims_bad, lab, 0);
    for (int gz = 0; gz < 2; gz++) {
        IdxData d;
        idx_read(tmp_path(gz ? "im.idx.gz" : "im.idx"), tmp_path("lb.idx.gz"), 0, &d);
        int ok = d.n == 5 && d.n_file == 5 && d.h == 3 && d.w == 4 &&
                 memcmp(d.images, g_img, sizeof g_img) == 0 && d.labels;
        for (int i = 0; ok && i < 5; i++) ok = d.labels[i] == lab[i];
        check(ok, "idx %s round trip: 5 x 3 x 4 images and 5 labels equal", gz ? "gzip" : "raw");
        idx_free(&d);
        idx_read(tmp_path(gz ? "im.idx.gz" : "im.idx"), tmp_path("lb.idx.gz"), 2, &d);
        check(d.n == 2 && d.n_file == 5 && memcmp(d.images, g_img, 24) == 0 && d.labels[1] == 1,
              "idx %s --limit 2: first 2 of 5", gz ? "gzip" : "raw");
        idx_free(&d);
    }
    /* truncations: raw payload, gzip stream, gzip trailer only, header */
    cut_file(tmp_path("im.idx"), tmp_path("cut.idx"), 16 + 30);
    expect_die("truncated raw IDX", read_images_of, tmp_path("cut.idx"), "cut.idx: truncated",
               "expected 60 bytes of image data, got 30");
    FILE *f = fopen(tmp_path("im.idx.gz"), "rb");
    fseek(f, 0, SEEK_END);
    long gzlen = ftell(f);
    fclose(f);
    cut_file(tmp_path("im.idx.gz"), tmp_path("cut.idx.gz"), gzlen / 2);
    expect_die("truncated gzip IDX", read_images_of, tmp_path("cut.idx.gz"), "cut.idx.gz:",
               "truncated");
    cut_file(tmp_path("im.idx.gz"), tmp_path("cut8.idx.gz"), gzlen - 4);
    expect_die("gzip IDX without its trailer", read_images_of, tmp_path("cut8.idx.gz"),
               "cut8.idx.gz: truncated", NULL);
    cut_file(tmp_path("im.idx"), tmp_path("hdr.idx"), 10);
    expect_die("IDX with half a header", read_images_of, tmp_path("hdr.idx"), "hdr.idx: truncated",
               "header");
    /* wrong magic, a labels file given as images, counts that differ, no file */
    uint8_t junk[64];
    memset(junk, 7, sizeof junk);
    f = fopen(tmp_path("junk.idx"), "wb");
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    expect_die("IDX with a wrong magic", read_images_of, tmp_path("junk.idx"), "junk.idx:",
               "magic 0x07070707");
    expect_die("labels file given as images", read_images_of, tmp_path("lb.idx.gz"),
               "lb.idx.gz: is an IDX label file", NULL);
    const char *pair[2] = {tmp_path("im.idx"), tmp_path("lb4.idx")};
    expect_die("label count != image count", read_pair_of, pair, "lb4.idx: holds 4 labels",
               "holds 5 images");
    expect_die("missing IDX file", read_images_of, tmp_path("nope.idx"), "nope.idx",
               "No such file");
}

/* ---- PNG ---------------------------------------------------------------------------- */

/* a PNG of any libpng colour type (interlaced), bypassing pngio_write: rows interleaved */
static void raw_png_img(const char *path, int w, int h, int color, int depth, const uint8_t *rows,
                        size_t rowbytes, const png_color *pal, int npal, const uint8_t *trns,
                        int ntrns)
{
    FILE *f = fopen(path, "wb");
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop i = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        check(0, "libpng failed writing the fixture %s", path);
        exit(1);
    }
    png_init_io(p, f);
    png_set_IHDR(p, i, (png_uint_32)w, (png_uint_32)h, depth, color, PNG_INTERLACE_ADAM7,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(p, i, pal, npal);
    if (trns) png_set_tRNS(p, i, trns, ntrns, NULL);
    png_write_info(p, i);
    png_bytep *rp = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) rp[y] = (png_bytep)(rows + (size_t)y * rowbytes);
    png_write_image(p, rp);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &i);
    free(rp);
    fclose(f);
}

static void read_png_of(const void *path)
{
    int c, h, w;
    free(pngio_read(path, &c, &h, &w));
}

static void write_png_to(const void *path)
{
    uint8_t px[4] = {1, 2, 3, 4};
    pngio_write(path, px, 1, 2, 2);
}

static void test_png(void)
{
    const int W = 7, H = 5;
    uint8_t gray[5 * 7], rgb[3 * 5 * 7];
    for (int i = 0; i < W * H; i++) gray[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 3 * W * H; i++) rgb[i] = (uint8_t)(i * 11 + 3);
    int c, h, w;
    pngio_write(tmp_path("g.png"), gray, 1, H, W);
    uint8_t *r = pngio_read(tmp_path("g.png"), &c, &h, &w);
    check(c == 1 && h == H && w == W && memcmp(r, gray, sizeof gray) == 0,
          "png gray 7x5 round trip (c=%d h=%d w=%d)", c, h, w);
    free(r);
    pngio_write(tmp_path("rgb.png"), rgb, 3, H, W);
    r = pngio_read(tmp_path("rgb.png"), &c, &h, &w);
    check(c == 3 && h == H && w == W && memcmp(r, rgb, sizeof rgb) == 0,
          "png RGB 7x5 round trip, planar in and out (c=%d)", c);
    free(r);
    int pc, ph, pw;
    pngio_probe(tmp_path("rgb.png"), &pc, &ph, &pw);
    check(pc == 3 && ph == H && pw == W, "png probe: 3 x 5 x 7");

    /* gray+alpha -> gray, RGBA -> RGB: the alpha byte is dropped */
    uint8_t ga[5 * 7 * 2], rgba[5 * 7 * 4];
    for (int i = 0; i < W * H; i++) {
        ga[2 * i] = gray[i];
        ga[2 * i + 1] = (uint8_t)(255 - i);
        for (int k = 0; k < 3; k++) rgba[4 * i + k] = rgb[k * W * H + i];
        rgba[4 * i + 3] = (uint8_t)i;
    }
    raw_png_img(tmp_path("ga.png"), W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, (size_t)W * 2, NULL, 0, NULL, 0);
    r = pngio_read(tmp_path("ga.png"), &c, &h, &w);
    check(c == 1 && memcmp(r, gray, sizeof gray) == 0, "png gray+alpha (interlaced) -> gray");
    free(r);
    raw_png_img(tmp_path("rgba.png"), W, H, PNG_COLOR_TYPE_RGBA, 8, rgba, (size_t)W * 4, NULL, 0, NULL, 0);
    r = pngio_read(tmp_path("rgba.png"), &c, &h, &w);
    check(c == 3 && memcmp(r, rgb, sizeof rgb) == 0, "png RGBA -> RGB");
    free(r);
    /* palette (with transparency) -> RGB */
    png_color pal[4] = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}, {250, 1, 128}};
    uint8_t trns[4] = {255, 0, 128, 255}, idx[5 * 7], want[3 * 5 * 7];
    for (int i = 0; i < W * H; i++) {
        idx[i] = (uint8_t)(i % 4);
        want[i] = pal[i % 4].red;
        want[W * H + i] = pal[i % 4].green;
        want[2 * W * H + i] = pal[i % 4].blue;
    }
    raw_png_img(tmp_path("pal.png"), W, H, PNG_COLOR_TYPE_PALETTE, 8, idx, (size_t)W, pal, 4, trns, 4);
    r = pngio_read(tmp_path("pal.png"), &c, &h, &w);
    check(c == 3 && memcmp(r, want, sizeof want) == 0, "png palette + tRNS -> RGB");
    free(r);
    pngio_probe(tmp_path("pal.png"), &pc, &ph, &pw);
    check(pc == 3, "png probe: palette counts as 3 channels");
    /* 16-bit gray -> high byte; 1-bit gray -> 0/255 */
    uint8_t g16[5 * 7 * 2];
    for (int i = 0; i < W * H; i++) {
        g16[2 * i] = gray[i]; /* big-endian: high byte first */
        g16[2 * i + 1] = 0xA5;
    }
    raw_png_img(tmp_path("g16.png"), W, H, PNG_COLOR_TYPE_GRAY, 16, g16, (size_t)W * 2, NULL, 0, NULL, 0);
    r = pngio_read(tmp_path("g16.png"), &c, &h, &w);
    check(c == 1 && memcmp(r, gray, sizeof gray) == 0, "png 16-bit gray -> 8-bit (high byte)");
    free(r);
    uint8_t bits[5] = {0xA0, 0x40, 0xA0, 0x40, 0xA0}; /* 7 px per row: 1010000, 0100000 */
    raw_png_img(tmp_path("g1.png"), W, H, PNG_COLOR_TYPE_GRAY, 1, bits, 1, NULL, 0, NULL, 0);
    r = pngio_read(tmp_path("g1.png"), &c, &h, &w);
    check(c == 1 && r[0] == 255 && r[1] == 0 && r[2] == 255 && r[W] == 0 && r[W + 1] == 255,
          "png 1-bit gray -> 0/255 (%d %d %d / %d %d)", r[0], r[1], r[2], r[W], r[W + 1]);
    free(r);

    /* the grid: 5 RGB images of 4x3 in 3 columns, 1 px mid-gray border */
    const int n = 5, gh = 4, gw = 3;
    uint8_t imgs[5 * 3 * 4 * 3];
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < gh * gw; p++)
                imgs[((i * 3 + k) * gh * gw) + p] = (uint8_t)(i * 40 + k * 10 + p);
    pngio_write_grid(tmp_path("grid.png"), imgs, n, 3, gh, gw, 3);
    r = pngio_read(tmp_path("grid.png"), &c, &h, &w);
    int GW = 3 * gw + 4, GH = 2 * gh + 3;
    int ok = c == 3 && h == GH && w == GW;
    size_t plane = (size_t)GH * GW;
    for (int i = 0; ok && i < n; i++) {
        int x0 = 1 + (i % 3) * (gw + 1), y0 = 1 + (i / 3) * (gh + 1);
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < gh; y++)
                for (int x = 0; x < gw; x++)
                    ok &= r[k * plane + (size_t)(y0 + y) * GW + x0 + x] ==
                          imgs[((i * 3 + k) * gh * gw) + y * gw + x];
    }
    int border = ok && r[0] == 128 && r[(size_t)(gh + 1) * GW + 5] == 128 && r[plane + 4] == 128;
    int empty = ok && r[(size_t)(GH - 2) * GW + GW - 2] == 128; /* 6th cell: no image */
    check(ok && border && empty, "png grid 5 images in 3 columns: %dx%d (want %dx%d), cells, "
          "border and empty cell", w, h, GW, GH);
    free(r);
    uint8_t gimg[2 * 70 * 70];
    memset(gimg, 9, sizeof gimg);
    pngio_write_grid(tmp_path("grid2.png"), gimg, 2, 1, 70, 70, 0);
    pngio_probe(tmp_path("grid2.png"), &pc, &ph, &pw);
    check(pc == 1 && pw == 2 * 70 + 3 * 2 && ph == 70 + 2 * 2,
          "png grid of 70 px gray images: 2 px border, square layout (%dx%d)", pw, ph);
    check(access(tmp_path("grid.png.tmp"), F_OK) != 0, "png write leaves no temporary");

    FILE *f = fopen(tmp_path("bad.png"), "wb");
    fputs("\x89PNG\r\n\x1a\n garbage garbage garbage", f);
    fclose(f);
    expect_die("broken PNG", read_png_of, tmp_path("bad.png"), "bad.png: bad PNG", NULL);
    f = fopen(tmp_path("notpng.png"), "wb");
    fputs("hello", f);
    fclose(f);
    expect_die("not a PNG", read_png_of, tmp_path("notpng.png"), "notpng.png: not a PNG", NULL);
    cut_file(tmp_path("rgb.png"), tmp_path("cut.png"), 60);
    expect_die("truncated PNG", read_png_of, tmp_path("cut.png"), "cut.png: bad PNG", NULL);
    expect_die("PNG into a missing folder", write_png_to, "/nonexistent-dir/x.png",
               "/nonexistent-dir/x.png: cannot create", NULL);
}

/* ---- dataset ------------------------------------------------------------------------ */

static void open_dataset_of(const void *path)
{
    DatasetFile ds;
    dataset_open(&ds, path);
}

static void test_dataset(void)
{
    const size_t N = 300;
    const int C = 3, H = 4, W = 5, img = C * H * W;
    uint8_t *im = malloc(N * (size_t)img);
    int32_t *lab = malloc(N * sizeof(int32_t));
    for (size_t i = 0; i < N * (size_t)img; i++) im[i] = (uint8_t)(i * 13 + i / 7);
    for (size_t i = 0; i < N; i++) lab[i] = (int32_t)(i % 3);
    const char *names[3] = {"cat", "dog", "Ankle boot"};
    DatasetFile ds;
    dataset_create(&ds, tmp_path("d.h5"), N, C, H, W, 1);
    for (size_t b = 0; b < N; b += 100) dataset_write_rows(&ds, b, 100, im + b * img, lab + b);
    dataset_set_meta(&ds, 3, "test source", names);
    dataset_close(&ds);

    dataset_open(&ds, tmp_path("d.h5"));
    check(ds.n == N && ds.c == C && ds.h == H && ds.w == W && ds.classes == 3 && ds.labels >= 0,
          "dataset reopened: %zu x %d x %d x %d, %d classes", ds.n, ds.c, ds.h, ds.w, ds.classes);
    uint8_t *back = malloc(60 * (size_t)img);
    int32_t lb[60];
    dataset_read_images(&ds, 240, 60, back); /* crosses the 256-row chunk boundary */
    dataset_read_labels(&ds, 240, 60, lb);
    check(memcmp(back, im + 240 * img, 60 * (size_t)img) == 0 && memcmp(lb, lab + 240, sizeof lb) == 0,
          "dataset rows [240,300) read back equal (across a chunk boundary)");
    char **nm = dataset_class_names(&ds);
    check(nm && strcmp(nm[0], "cat") == 0 && strcmp(nm[2], "Ankle boot") == 0,
          "dataset class_names read back");
    dataset_free_names(nm, 3);
    char *src = NULL;
    h5_attr_get_str(ds.file, "source", &src);
    check(src && strcmp(src, "test source") == 0, "dataset source attribute");
    free(src);
    hid_t d = H5Dopen2(ds.file, "images", H5P_DEFAULT);
    hid_t p = H5Dget_create_plist(d);
    hsize_t ch[4];
    int cnd = H5Pget_chunk(p, 4, ch);
    check(cnd == 4 && ch[0] == 256 && ch[1] == 3 && H5Pget_nfilters(p) == 2 && h5_has_checksum(d),
          "dataset /images chunked [%llu,...] by whole images, deflated, with a Fletcher32 checksum",
          (unsigned long long)ch[0]);
    H5Pclose(p);
    H5Dclose(d);
    dataset_close(&ds);

    /* no labels */
    dataset_create(&ds, tmp_path("nolab.h5"), 2, 1, 2, 2, 0);
    uint8_t four[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    dataset_write_rows(&ds, 0, 2, four, NULL);
    dataset_set_meta(&ds, 0, "x", NULL);
    dataset_close(&ds);
    dataset_open(&ds, tmp_path("nolab.h5"));
    check(ds.labels < 0 && ds.classes == 0 && dataset_class_names(&ds) == NULL,
          "dataset without labels opens with classes 0");
    dataset_close(&ds);

    /* other kinds, other versions, not HDF5 */
    hid_t f = h5_create(tmp_path("ck.h5"), H5P_DEFAULT);
    h5_set_kind(f, "checkpoint");
    h5_close(f);
    expect_die("dataset_open on a checkpoint", open_dataset_of, tmp_path("ck.h5"), "ck.h5: is a ddm 'checkpoint' file",
               "expected a 'dataset'");
    f = h5_create(tmp_path("v2.h5"), H5P_DEFAULT);
    h5_set_kind(f, "dataset");
    h5_attr_set_i64(f, "format_version", 2);
    h5_close(f);
    expect_die("dataset_open on format_version 2", open_dataset_of, tmp_path("v2.h5"), "v2.h5: format_version 2", NULL);
    expect_die("dataset_open on a non-HDF5 file", open_dataset_of, tmp_path("junk.idx"), "junk.idx: not an HDF5 file", NULL);
    free(back);
    free(im);
    free(lab);
}

/* ---- pad and resize --------------------------------------------------------------------- */

static void test_transforms(void)
{
    uint8_t in[4] = {1, 2, 3, 4}, out[36];
    dataset_pad(out, in, 1, 2, 2, 2);
    int ok = 1;
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++) {
            int inside = y >= 2 && y < 4 && x >= 2 && x < 4;
            ok &= out[y * 6 + x] == (inside ? in[(y - 2) * 2 + x - 2] : 0);
        }
    check(ok, "pad 2x2 by 2 -> 6x6, zero border");

    /* torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False).round() */
    const uint8_t a[4] = {0, 100, 200, 255};
    const uint8_t up[16] = {0, 25, 75, 100, 50, 72, 117, 139, 150, 167, 200, 216, 200, 214, 241, 255};
    uint8_t r[16];
    dataset_resize(r, 4, 4, a, 1, 2, 2);
    check(memcmp(r, up, 16) == 0, "resize 2x2 -> 4x4 equals torch bilinear (%d %d %d %d ...)", r[4], r[5], r[6], r[7]);
    uint8_t big[36], down[12];
    for (int i = 0; i < 36; i++) big[i] = (uint8_t)(i * 7);
    const uint8_t want[12] = {14, 28, 42, 77, 91, 105, 140, 154, 168, 203, 217, 231};
    dataset_resize(down, 4, 3, big, 1, 6, 6);
    check(memcmp(down, want, 12) == 0, "resize 6x6 -> 4x3 equals torch bilinear");
    uint8_t same[36];
    dataset_resize(same, 6, 6, big, 1, 6, 6);
    check(memcmp(same, big, 36) == 0, "resize to the same size is the identity");
}

/* ---- fsio, json, strbuf, pixels ------------------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void die_with_tracked(const void *arg)
{
    const char *path = arg;
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    fsio_track_created(path);
    ddm_die("on purpose");
}

static void mkdir_under_file(const void *arg) { fsio_mkdir_p(arg); }

static void test_fsio_json(void)
{
    const char *p = tmp_path("atomic.txt");
    fsio_write_atomic(p, "one\n", 4);
    fsio_write_atomic(p, "two\n", 4);
    char *got = slurp(p);
    check(got && !strcmp(got, "two\n"), "fsio_write_atomic replaces the file");
    char *tmp = fsio_tmp_name(p);
    check(access(tmp, F_OK) != 0, "fsio_write_atomic leaves no temporary");
    free(tmp);
    const char *l = tmp_path("lines.jsonl");
    fsio_append_line(l, "{\"a\": 1}");
    fsio_append_line(l, "{\"a\": 2}\n");
    got = slurp(l);
    check(got && !strcmp(got, "{\"a\": 1}\n{\"a\": 2}\n"), "fsio_append_line: whole lines, one newline each");
    const char *d = tmp_path("x/y/z");
    fsio_mkdir_p(d);
    check(access(d, W_OK) == 0, "fsio_mkdir_p makes the parents");
    expect_die("fsio_mkdir_p under a file", mkdir_under_file, tmp_path("atomic.txt/sub"), "cannot create folder", NULL);
    const char *t = tmp_path("tracked.tmp");
    expect_die("a tracked file on death", die_with_tracked, t, "on purpose", NULL);
    check(access(t, F_OK) != 0, "fsio_track_created: the file is removed when the process dies");
    char *s = fsio_strip_suffix("a/b.h5", ".h5"), *s2 = fsio_strip_suffix("a/b.npz", ".h5");
    check(!strcmp(s, "a/b") && !strcmp(s2, "a/b.npz"), "fsio_strip_suffix");
    free(s);
    free(s2);

    JsonLine j;
    json_begin(&j);
    json_str(&j, "s", "q\"b\\n\nt\t\x01");
    json_num(&j, "x", "%.10g", 0.25);
    json_num(&j, "nan", "%.10g", 0.0 / 0.0);
    json_int(&j, "i", -3);
    json_bool(&j, "b", 1);
    json_null(&j, "z");
    const char *want = "{\"s\": \"q\\\"b\\\\n\\nt\\t\\u0001\", \"x\": 0.25, \"nan\": null, \"i\": -3, "
                       "\"b\": true, \"z\": null}";
    check(!strcmp(json_end(&j), want), "json line: escapes, numbers, null [%s]", j.b.s);
    json_free(&j);

    StrBuf b;
    strbuf_init(&b);
    for (int i = 0; i < 200; i++) strbuf_add(&b, "%d,", i % 10);
    char *v[] = {"a", "b", "c"};
    strbuf_join(&b, v, 3, "+");
    check(b.n == 405 && !strcmp(b.s + 400, "a+b+c"), "strbuf grows and joins");
    strbuf_free(&b);
    char *sp = strbuf_printf("%s-%03d", "x", 7);
    check(!strcmp(sp, "x-007"), "strbuf_printf");
    free(sp);

    /* pixels: the exact mapping samples are written with */
    float x[6] = {-1.0f, 1.0f, 0.0f, -2.0f, 0.0f / 0.0f, 0.003921569f};
    uint8_t u[6];
    pixels_to_uint8(u, x, 6);
    check(u[0] == 0 && u[1] == 255 && u[2] == 128 && u[3] == 0 && u[4] == 0 && u[5] == 128,
          "pixels_to_uint8: ends, half up, clamp, NaN -> 0 [%d %d %d %d %d %d]", u[0], u[1], u[2], u[3], u[4], u[5]);
    int bad = 0;
    for (int k = 0; k < 256; k++) {
        uint8_t b8 = (uint8_t)k, back;
        float f;
        pixels_from_uint8(&f, &b8, 1);
        pixels_to_uint8(&back, &f, 1);
        bad += back != b8;
    }
    check(bad == 0, "pixels: every byte survives the round trip (%d do not)", bad);
    const float pr[6] = {0.1f, 0.7f, 0.2f, 0.5f, 0.5f, 0.0f};
    const int32_t lab[2] = {1, 0};
    check(metrics_argmax(pr, 3) == 1 && metrics_argmax(pr + 3, 3) == 0, "argmax, first on ties");
    check(metrics_class_match(pr, lab, 2, 3) == 1.0, "class match of two right rows");
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/ddm-test_io.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    h5_quiet();
    test_idx();
    test_png();
    test_dataset();
    test_transforms();
    test_fsio_json();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_summary();
}
