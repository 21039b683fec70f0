/* libpng glue. libpng reports errors by calling our error function, which records the
 * message and longjmps back to the setjmp in the caller; the caller frees what it holds
 * and dies naming the file. */
#include "io/png.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"

typedef struct {
    const char *path;
    char msg[256];
} PngErr;

static void on_error(png_structp png, png_const_charp msg)
{
    PngErr *e = png_get_error_ptr(png);
    if (msg && strcmp(msg, "Read Error") == 0) msg = "the file ends early (truncated?)";
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* benign chunk complaints (e.g. iCCP profiles) are not worth a line each */
}

static FILE *open_png(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) ddm_die("%s: %s", path, strerror(errno));
    unsigned char sig[8];
    size_t got = fread(sig, 1, 8, f);
    if (got < 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(f);
        ddm_die("%s: not a PNG file", path);
    }
    return f;
}

/* Opens path and reads its header; sets up the 8-bit gray/RGB transforms when `expand`. */
static void read_begin(const char *path, PngErr *err, FILE **fp, png_structp *pp, png_infop *ip)
{
    *fp = open_png(path);
    *pp = png_create_read_struct(PNG_LIBPNG_VER_STRING, err, on_error, on_warning);
    if (!*pp) {
        fclose(*fp);
        ddm_die("%s: libpng: cannot create a read struct", path);
    }
    *ip = png_create_info_struct(*pp);
    if (!*ip) {
        png_destroy_read_struct(pp, NULL, NULL);
        fclose(*fp);
        ddm_die("%s: libpng: cannot create an info struct", path);
    }
}

static int channels_of(int color_type)
{
    return (color_type & PNG_COLOR_MASK_COLOR) || color_type == PNG_COLOR_TYPE_PALETTE ? 3 : 1;
}

/* A header claiming a huge image (a decompression bomb, or a corrupt header) is refused
 * before any pixel memory is allocated. */
static void size_check(const char *path, png_uint_32 w, png_uint_32 h)
{
    if (w > PNGIO_MAX_SIDE || h > PNGIO_MAX_SIDE)
        ddm_die("%s: the PNG header says %lux%lu pixels: ddm reads images up to %d on a side "
                "(a corrupt header, or not an image for ddm)", path, (unsigned long)w,
                (unsigned long)h, PNGIO_MAX_SIDE);
}

void pngio_probe(const char *path, int *c, int *h, int *w)
{
    PngErr err = {path, ""};
    FILE *f;
    png_structp png;
    png_infop info;
    read_begin(path, &err, &f, &png, &info);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        ddm_die("%s: bad PNG: %s", path, err.msg);
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    size_check(path, png_get_image_width(png, info), png_get_image_height(png, info));
    *w = (int)png_get_image_width(png, info);
    *h = (int)png_get_image_height(png, info);
    *c = channels_of(png_get_color_type(png, info));
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
}

uint8_t *pngio_read(const char *path, int *c, int *h, int *w)
{
    PngErr err = {path, ""};
    FILE *f;
    png_structp png;
    png_infop info;
    /* written after setjmp and used after a longjmp: volatile */
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    read_begin(path, &err, &f, &png, &info);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        free(pix);
        free(rows);
        ddm_die("%s: bad PNG: %s", path, err.msg);
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    png_uint_32 W = png_get_image_width(png, info), H = png_get_image_height(png, info);
    if (W > PNGIO_MAX_SIDE || H > PNGIO_MAX_SIDE) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        size_check(path, W, H);
    }
    int ct = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (ct & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int C = png_get_channels(png, info);
    if (C != 1 && C != 3) png_error(png, "unexpected channel count after conversion");
    if (png_get_rowbytes(png, info) != (size_t)W * (size_t)C)
        png_error(png, "unexpected row size after conversion");
    size_t plane = (size_t)W * H;
    uint8_t *hwc = xmalloc(plane * (size_t)C);
    pix = hwc;
    rows = xmalloc(sizeof(png_bytep) * H);
    for (png_uint_32 y = 0; y < H; y++) rows[y] = hwc + (size_t)y * W * (size_t)C;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    free(rows);
    rows = NULL;
    uint8_t *chw = hwc;
    if (C == 3) { /* interleaved -> planar */
        chw = xmalloc(plane * 3);
        for (size_t i = 0; i < plane; i++)
            for (int k = 0; k < 3; k++) chw[(size_t)k * plane + i] = hwc[i * 3 + (size_t)k];
        free(hwc);
    }
    *c = C;
    *h = (int)H;
    *w = (int)W;
    return chw;
}

/* Writes an interleaved (H,W,C) buffer to path atomically. */
static void write_hwc(const char *path, const uint8_t *hwc, int c, int h, int w)
{
    if (c != 1 && c != 3) ddm_die("%s: cannot write a %d-channel PNG (1 or 3)", path, c);
    if (h <= 0 || w <= 0) ddm_die("%s: cannot write a %dx%d PNG", path, h, w);
    size_t tn = strlen(path) + 32;
    char *tmp = xmalloc(tn);
    snprintf(tmp, tn, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(tmp);
        ddm_die("%s: cannot create: %s", path, strerror(e));
    }
    PngErr err = {path, ""};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        unlink(tmp);
        ddm_die("%s: libpng: cannot create a write struct", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        unlink(tmp);
        free(rows);
        ddm_die("%s: cannot write PNG: %s", path, err.msg);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    rows = xmalloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(hwc + (size_t)y * (size_t)w * (size_t)c);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (fflush(f) != 0 || ferror(f)) {
        int e = errno;
        fclose(f);
        unlink(tmp);
        ddm_die("%s: write failed: %s", path, strerror(e));
    }
    if (fclose(f) != 0) {
        int e = errno;
        unlink(tmp);
        ddm_die("%s: write failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        ddm_die("%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    free(tmp);
}

void pngio_write(const char *path, const uint8_t *img, int c, int h, int w)
{
    if (c == 1) {
        write_hwc(path, img, c, h, w);
        return;
    }
    size_t plane = (size_t)h * (size_t)w;
    uint8_t *hwc = xmalloc(plane * (size_t)(c > 0 ? c : 1));
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < c; k++) hwc[i * (size_t)c + (size_t)k] = img[(size_t)k * plane + i];
    write_hwc(path, hwc, c, h, w);
    free(hwc);
}

void pngio_write_grid(const char *path, const uint8_t *imgs, int n, int c, int h, int w,
                      int cols)
{
    if (n <= 0) ddm_die("%s: no images for a grid", path);
    if (c != 1 && c != 3) ddm_die("%s: cannot write a %d-channel PNG grid (1 or 3)", path, c);
    if (cols <= 0) {
        cols = 1;
        while (cols * cols < n) cols++;
    }
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int b = h <= 64 && w <= 64 ? 1 : 2;
    int GW = cols * w + (cols + 1) * b, GH = rows * h + (rows + 1) * b;
    size_t plane = (size_t)h * (size_t)w, gstride = (size_t)GW * (size_t)c;
    uint8_t *g = xmalloc((size_t)GH * gstride);
    memset(g, 128, (size_t)GH * gstride);
    for (int i = 0; i < n; i++) {
        const uint8_t *img = imgs + (size_t)i * (size_t)c * plane;
        int x0 = b + (i % cols) * (w + b), y0 = b + (i / cols) * (h + b);
        for (int y = 0; y < h; y++) {
            uint8_t *dst = g + (size_t)(y0 + y) * gstride + (size_t)x0 * (size_t)c;
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    dst[(size_t)x * (size_t)c + (size_t)k] =
                        img[(size_t)k * plane + (size_t)y * (size_t)w + (size_t)x];
        }
    }
    write_hwc(path, g, c, GH, GW);
    free(g);
}
