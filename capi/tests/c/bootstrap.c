/*
 * A real batch of bootstraps through Glovebox's C ABI, checked by decryption with a key this
 * test makes: the client key of the insecure test set (the logic; the 128-bit sets run the
 * same code), its compressed server key through gb_server_key_load, 64 ciphertexts through
 * four tables (one per ciphertext, then one for all) on the exact `cpu` backend and on
 * `cpu-fft`, and the same bootstrapper used from two threads at once.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

#define COUNT 64

static uint64_t f(int table, uint64_t x) {
  switch (table) {
    case 0: return x;
    case 1: return (x * x + 1) % 4;
    case 2: return x >= 2;
    default: return 3 - x % 4;
  }
}

struct job {
  const GbBootstrapper *boot;
  const GbLookupTable *const *tables;
  const uint64_t *in;
  uint64_t *out;
  GbStatus status;
};

static void *run(void *arg) {
  struct job *j = arg;
  j->status = gb_bootstrap(j->boot, j->tables, COUNT, j->in, j->out, COUNT);
  return NULL;
}

int main(void) {
  GbClientKey *client;
  CHECK(gb_client_key_new("TEST_PARAMS_INSECURE", &client));
  GbBytes bytes;
  CHECK(gb_client_key_compressed_server_key(client, &bytes));

  /* The server side: bytes in, no secret. */
  GbServerKey *key;
  CHECK(gb_server_key_load(bytes.data, bytes.len, &key));
  gb_bytes_free(bytes);
  GbKeyInfo info;
  CHECK(gb_server_key_info(key, &info));
  printf("parameters %s: lwe_size %zu, message modulus %llu, carry modulus %llu\n",
         info.parameters, info.lwe_size, (unsigned long long)info.message_modulus,
         (unsigned long long)info.carry_modulus);
  ASSERT(strcmp(info.parameters, "TEST_PARAMS_INSECURE") == 0);
  size_t space = (size_t)(info.message_modulus * info.carry_modulus);

  GbLookupTable *tables[4];
  uint64_t *values = malloc(space * sizeof(uint64_t));
  for (int t = 0; t < 4; t++) {
    for (size_t x = 0; x < space; x++) values[x] = f(t, x) % space;
    CHECK(gb_lookup_table_new(key, values, space, &tables[t]));
  }
  free(values);

  uint64_t messages[COUNT];
  uint64_t *in = malloc(COUNT * info.lwe_size * sizeof(uint64_t));
  uint64_t *out = malloc(COUNT * info.lwe_size * sizeof(uint64_t));
  uint64_t *out2 = malloc(COUNT * info.lwe_size * sizeof(uint64_t));
  for (int i = 0; i < COUNT; i++) {
    messages[i] = (uint64_t)(i * 7 + i / 4) % info.message_modulus;
    CHECK(gb_encrypt(client, messages[i], in + i * info.lwe_size, info.lwe_size));
  }
  const GbLookupTable *per_ct[COUNT];
  for (int i = 0; i < COUNT; i++) per_ct[i] = tables[i % 4];

  const char *names[] = {"cpu", "cpu-fft"};
  for (int b = 0; b < 2; b++) {
    GbBackend *backend;
    CHECK(gb_backend_new(names[b], &backend));
    GbBootstrapper *boot;
    CHECK(gb_bootstrapper_new(key, backend, &boot));
    gb_backend_free(backend); /* the bootstrapper keeps it */

    /* One table per ciphertext. */
    CHECK(gb_bootstrap(boot, per_ct, COUNT, in, out, COUNT));
    for (int i = 0; i < COUNT; i++) {
      uint64_t got;
      CHECK(gb_decrypt(client, out + i * info.lwe_size, info.lwe_size, &got));
      if (got != f(i % 4, messages[i])) {
        fprintf(stderr, "%s: ciphertext %d: f%d(%llu) decrypted to %llu\n", names[b], i,
                i % 4, (unsigned long long)messages[i], (unsigned long long)got);
        return 1;
      }
    }
    /* One table for all. */
    const GbLookupTable *one[1] = {tables[1]};
    CHECK(gb_bootstrap(boot, one, 1, in, out, COUNT));
    for (int i = 0; i < COUNT; i++) {
      uint64_t got;
      CHECK(gb_decrypt(client, out + i * info.lwe_size, info.lwe_size, &got));
      ASSERT(got == f(1, messages[i]));
    }
    /* Two threads on one bootstrapper at once. */
    struct job jobs[2] = {{boot, per_ct, in, out, GB_OK}, {boot, per_ct, in, out2, GB_OK}};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) ASSERT(pthread_create(&threads[t], NULL, run, &jobs[t]) == 0);
    for (int t = 0; t < 2; t++) ASSERT(pthread_join(threads[t], NULL) == 0);
    for (int t = 0; t < 2; t++) ASSERT(jobs[t].status == GB_OK);
    for (int i = 0; i < COUNT; i++) {
      uint64_t a, c;
      CHECK(gb_decrypt(client, out + i * info.lwe_size, info.lwe_size, &a));
      CHECK(gb_decrypt(client, out2 + i * info.lwe_size, info.lwe_size, &c));
      ASSERT(a == f(i % 4, messages[i]) && c == a);
    }
    printf("%s: %d bootstraps (tables per ciphertext, one table, two threads) decrypt to f(m)\n",
           names[b], 4 * COUNT);
    gb_bootstrapper_free(boot);
  }

  for (int t = 0; t < 4; t++) gb_lookup_table_free(tables[t]);
  gb_server_key_free(key);
  gb_client_key_free(client);
  free(in);
  free(out);
  free(out2);
  printf("bootstrap.c: ok\n");
  return 0;
}
