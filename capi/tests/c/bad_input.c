/*
 * Bad input through Glovebox's C ABI: null pointers, wrong sizes, wrong parameters, malformed
 * bytes and unknown names each give their error code and a message, never a crash; the
 * objects stay usable after an error.
 */
#include <stdint.h>
#include <string.h>

#include "common.h"

int main(void) {
  GbClientKey *client;
  GbServerKey *key;
  GbBackend *backend;
  GbBootstrapper *boot;
  GbLookupTable *table;
  GbBytes bytes;

  printf("names and null pointers:\n");
  EXPECT_STATUS(GB_INVALID_ARGUMENT, gb_client_key_new("NO_SUCH_PARAMETERS", &client));
  EXPECT_STATUS(GB_NULL_POINTER, gb_client_key_new(NULL, &client));
  EXPECT_STATUS(GB_NULL_POINTER, gb_client_key_new("TEST_PARAMS_INSECURE", NULL));
  EXPECT_STATUS(GB_INVALID_ARGUMENT, gb_backend_new("tpu", &backend));
  EXPECT_STATUS(GB_NULL_POINTER, gb_backend_new(NULL, &backend));
  EXPECT_STATUS(GB_NULL_POINTER, gb_server_key_load(NULL, 10, &key));
  EXPECT_STATUS(GB_NULL_POINTER, gb_server_key_info(NULL, NULL));
  EXPECT_STATUS(GB_NULL_POINTER, gb_bootstrapper_new(NULL, NULL, &boot));
  EXPECT_STATUS(GB_NULL_POINTER, gb_bootstrap(NULL, NULL, 1, NULL, NULL, 1));
  /* Freeing null is a no-op. */
  gb_server_key_free(NULL);
  gb_backend_free(NULL);
  gb_bootstrapper_free(NULL);
  gb_lookup_table_free(NULL);
  gb_client_key_free(NULL);

  CHECK(gb_client_key_new("TEST_PARAMS_INSECURE", &client));
  CHECK(gb_client_key_compressed_server_key(client, &bytes));

  printf("malformed bytes:\n");
  const uint8_t junk[] = "certainly not a key";
  EXPECT_STATUS(GB_MALFORMED_BYTES, gb_server_key_load(junk, sizeof junk, &key));
  EXPECT_STATUS(GB_MALFORMED_BYTES, gb_server_key_load(bytes.data, bytes.len / 2, &key));
  EXPECT_STATUS(GB_MALFORMED_BYTES, gb_server_key_load(bytes.data, 12, &key));
  uint8_t *flipped = malloc(bytes.len);
  memcpy(flipped, bytes.data, bytes.len);
  flipped[10] ^= 0x55; /* the parameters' fingerprint */
  GbStatus s = gb_server_key_load(flipped, bytes.len, &key);
  ASSERT(s == GB_UNSUPPORTED || s == GB_MALFORMED_BYTES || s == GB_PARAMETER_MISMATCH);
  printf("  a flipped fingerprint -> %d: %s\n", (int)s, gb_last_error());
  free(flipped);

  CHECK(gb_server_key_load(bytes.data, bytes.len, &key));
  gb_bytes_free(bytes);
  GbKeyInfo info;
  CHECK(gb_server_key_info(key, &info));
  size_t space = (size_t)(info.message_modulus * info.carry_modulus);

  printf("tables:\n");
  uint64_t values[64] = {0};
  EXPECT_STATUS(GB_INVALID_ARGUMENT, gb_lookup_table_new(key, values, space - 1, &table));
  EXPECT_STATUS(GB_NULL_POINTER, gb_lookup_table_new(key, NULL, space, &table));
  values[3] = space; /* outside the plaintext space */
  EXPECT_STATUS(GB_INVALID_ARGUMENT, gb_lookup_table_new(key, values, space, &table));
  values[3] = 1;
  CHECK(gb_lookup_table_new(key, values, space, &table));

  CHECK(gb_backend_new("cpu", &backend));
  CHECK(gb_bootstrapper_new(key, backend, &boot));
  uint64_t *in = calloc(4 * info.lwe_size, sizeof(uint64_t));
  uint64_t *out = calloc(4 * info.lwe_size, sizeof(uint64_t));
  for (int i = 0; i < 4; i++) CHECK(gb_encrypt(client, 3, in + i * info.lwe_size, info.lwe_size));
  const GbLookupTable *one[1] = {table};
  const GbLookupTable *two[2] = {table, table};
  const GbLookupTable *with_null[4] = {table, NULL, table, table};

  printf("bootstraps:\n");
  EXPECT_STATUS(GB_INVALID_ARGUMENT, gb_bootstrap(boot, two, 2, in, out, 4));
  EXPECT_STATUS(GB_NULL_POINTER, gb_bootstrap(boot, NULL, 1, in, out, 4));
  EXPECT_STATUS(GB_NULL_POINTER, gb_bootstrap(boot, with_null, 4, in, out, 4));
  EXPECT_STATUS(GB_NULL_POINTER, gb_bootstrap(boot, one, 1, NULL, out, 4));
  EXPECT_STATUS(GB_NULL_POINTER, gb_bootstrap(boot, one, 1, in, NULL, 4));
  EXPECT_STATUS(GB_INVALID_ARGUMENT, gb_bootstrap(boot, one, 1, in, out, SIZE_MAX));
  /* An empty batch is fine. */
  CHECK(gb_bootstrap(boot, one, 1, in, out, 0));

  printf("ciphertexts:\n");
  EXPECT_STATUS(GB_INVALID_ARGUMENT, gb_encrypt(client, 1, out, info.lwe_size - 1));
  uint64_t m;
  EXPECT_STATUS(GB_PARAMETER_MISMATCH, gb_decrypt(client, out, info.lwe_size + 1, &m));
  EXPECT_STATUS(GB_NULL_POINTER, gb_decrypt(client, out, info.lwe_size, NULL));

  printf("wrong parameters:\n");
  /* A table of another parameter set (TFHE-rs's default 128-bit set) on this bootstrapper. */
  GbClientKey *other_client;
  CHECK(gb_client_key_new("PARAM_MESSAGE_2_CARRY_2_KS_PBS", &other_client));
  GbBytes other_bytes;
  CHECK(gb_client_key_compressed_server_key(other_client, &other_bytes));
  GbServerKey *other_key;
  CHECK(gb_server_key_load(other_bytes.data, other_bytes.len, &other_key));
  gb_bytes_free(other_bytes);
  GbLookupTable *other_table;
  CHECK(gb_lookup_table_new(other_key, values, space, &other_table));
  const GbLookupTable *foreign[1] = {other_table};
  EXPECT_STATUS(GB_PARAMETER_MISMATCH, gb_bootstrap(boot, foreign, 1, in, out, 4));
  /* A ciphertext of this set decrypted by the other set's key. */
  EXPECT_STATUS(GB_PARAMETER_MISMATCH, gb_decrypt(other_client, in, info.lwe_size, &m));

  /* After all these errors, the objects still work. */
  CHECK(gb_bootstrap(boot, one, 1, in, out, 4));
  for (int i = 0; i < 4; i++) {
    CHECK(gb_decrypt(client, out + i * info.lwe_size, info.lwe_size, &m));
    ASSERT(m == 1);
  }
  ASSERT(gb_last_error()[0] == '\0');

  gb_lookup_table_free(other_table);
  gb_server_key_free(other_key);
  gb_client_key_free(other_client);
  gb_lookup_table_free(table);
  gb_bootstrapper_free(boot);
  gb_backend_free(backend);
  gb_server_key_free(key);
  gb_client_key_free(client);
  free(in);
  free(out);
  printf("bad_input.c: ok\n");
  return 0;
}
