/*
 * fuzz_safetensors.c — libFuzzer target: safetensors headers
 * (engine/model/safetensors.h).
 *
 * The input is a whole .safetensors file (8-byte header length, JSON
 * header, data), handed to st_open_file through an in-memory file (memfd).
 * When it opens, every tensor is looked up by name and the last byte of its
 * data read: the reader promises every tensor lies inside the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[CT_ERRLEN];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    st_model *m = st_open_file(path, err);
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; m && i < st_n_tensors(m); i++) {
        const st_tensor *t = st_tensor_at(m, i);
        if (st_find(m, t->name) == NULL) __builtin_trap();
        if (t->nbytes) sink ^= ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sink;
    if (m) st_close(m);
    close(fd);
    return 0;
}
