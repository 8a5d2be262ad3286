/* The floor: HMAC-SHA256 over the same signing input, key schedule precomputed
 * (inner and outer SHA-256 states after the padded key), OpenSSL, one thread.
 * Usage: hmac_floor SECRET SIGNING_INPUT  -> prints "floor hmac/s N" */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: hmac_floor SECRET INPUT\n"); return 2; }
    unsigned char key[64] = {0}, pad[64];
    size_t keylen = strlen(argv[1]);
    if (keylen > 64) SHA256((unsigned char *)argv[1], keylen, key); else memcpy(key, argv[1], keylen);
    SHA256_CTX inner, outer;
    for (int i = 0; i < 64; i++) pad[i] = key[i] ^ 0x36;
    SHA256_Init(&inner); SHA256_Update(&inner, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] = key[i] ^ 0x5c;
    SHA256_Init(&outer); SHA256_Update(&outer, pad, 64);
    const unsigned char *input = (unsigned char *)argv[2];
    size_t len = strlen(argv[2]);
    double rates[5];
    unsigned sink = 0;
    for (int run = 0; run < 5; run++) {
        long count = 0;
        double start = now(), elapsed;
        do {
            for (int i = 0; i < 10000; i++) {
                unsigned char digest[32];
                SHA256_CTX c = inner;
                SHA256_Update(&c, input, len);
                SHA256_Final(digest, &c);
                c = outer;
                SHA256_Update(&c, digest, 32);
                SHA256_Final(digest, &c);
                sink += digest[0];
            }
            count += 10000;
            elapsed = now() - start;
        } while (elapsed < 0.4);
        rates[run] = count / elapsed;
    }
    for (int i = 0; i < 5; i++) for (int j = i + 1; j < 5; j++) if (rates[j] < rates[i]) { double t = rates[i]; rates[i] = rates[j]; rates[j] = t; }
    printf("floor hmac/s %.0f\n", rates[2]);
    return sink == 42 ? 1 : 0;
}
