/*
 * seal_format.c - the VSEAL v1 sealed-file format (layout in
 * seal_internal.h): header parsing, sealing and opening.  Pure functions
 * over buffers: no I/O, no globals, so fuzz/fuzz_vseal.c calls them directly.
 *
 * Plaintext payload, padded with sodium_pad to SEAL_PAD_BLOCK bytes:
 *   u8 version=1 | u16 issuer_len | issuer | u16 client_id_len | client_id
 *   | u32 value_len | value
 * A compact binary record rather than JSON: the value is opaque bytes (the
 * plugin's grant JSON), so nothing needs escaping and opening needs no JSON
 * parser.
 */
#include "seal_internal.h"

#include <string.h>

static int format_purpose_valid(const uint8_t *p, size_t len);

int seal_header_parse(const uint8_t *buf, size_t len, seal_header *out, seal_err *err)
{
    if (len < SEAL_MAGIC_LEN || memcmp(buf, SEAL_MAGIC, SEAL_MAGIC_LEN) != 0)
        return seal_fail(err, SEAL_E_FORMAT, "not a sealed file (no VSEAL magic)");
    if (len < SEAL_FIXED_HEADER)
        return seal_fail(err, SEAL_E_FORMAT, "sealed file is truncated (%zu bytes, header incomplete)", len);
    if (buf[5] != SEAL_VERSION)
        return seal_fail(err, SEAL_E_VERSION, "sealed file version %u is not supported by this version "
                                              "(supported: 1); upgrade vap-openemr", (unsigned)buf[5]);
    if (buf[6] != SEAL_AEAD_XCHACHA || buf[7] != SEAL_KDF_KEYRING)
        return seal_fail(err, SEAL_E_VERSION, "sealed file uses algorithm %u/%u, which this version does "
                                              "not support", (unsigned)buf[6], (unsigned)buf[7]);
    if (buf[8] != 0)
        return seal_fail(err, SEAL_E_VERSION, "sealed file has unknown flags 0x%02x", (unsigned)buf[8]);
    size_t plen = seal_get_u16(buf + 41);
    if (plen == 0 || plen > SEAL_NAME_MAX)
        return seal_fail(err, SEAL_E_FORMAT, "sealed file has a bad purpose length %zu", plen);
    if (!format_purpose_valid(buf + SEAL_FIXED_HEADER, len - SEAL_FIXED_HEADER < plen ? 0 : plen))
        return seal_fail(err, SEAL_E_FORMAT, len < SEAL_FIXED_HEADER + plen
                                                 ? "sealed file is truncated in its purpose name"
                                                 : "sealed file has an invalid purpose name");
    memcpy(out->key_id, buf + 9, SEAL_KEY_ID_BYTES);
    out->created = seal_get_u64(buf + 25);
    out->generation = seal_get_u64(buf + 33);
    memcpy(out->purpose, buf + SEAL_FIXED_HEADER, plen);
    out->purpose[plen] = '\0';
    return SEAL_OK;
}

int seal_format_seal(const seal_keyring *ring, const char *purpose, const seal_binding *bind,
                     uint64_t created, uint64_t generation, const uint8_t *value, size_t value_len,
                     uint8_t *out, size_t out_cap, size_t *out_len, seal_err *err)
{
    const struct seal_key *k = seal_keyring_active(ring);
    if (k == NULL)
        return seal_fail(err, SEAL_E_KEY_UNKNOWN, "the keyring has no active key");
    size_t plen = strlen(purpose);
    if (!format_purpose_valid((const uint8_t *)purpose, plen))
        return seal_fail(err, SEAL_E_INVAL, "invalid item name (use a-z, 0-9, _ and -)");
    if (bind == NULL || bind->issuer == NULL || bind->client_id == NULL)
        return seal_fail(err, SEAL_E_INVAL, "an issuer and a client_id are required to seal a secret");
    size_t ilen = strlen(bind->issuer), clen = strlen(bind->client_id);
    if (ilen == 0 || clen == 0 || ilen > SEAL_BINDING_MAX || clen > SEAL_BINDING_MAX)
        return seal_fail(err, SEAL_E_INVAL, "issuer and client_id must be 1..%u characters",
                         SEAL_BINDING_MAX);
    if (value_len == 0)
        return seal_fail(err, SEAL_E_INVAL, "refusing to seal an empty secret");
    if (value_len > SEAL_VALUE_MAX)
        return seal_fail(err, SEAL_E_TOO_BIG, "secret is %zu bytes, over the %u-byte limit", value_len,
                         SEAL_VALUE_MAX);
    size_t hlen = SEAL_FIXED_HEADER + plen + SEAL_NONCE_BYTES;
    size_t raw = 1 + 2 + ilen + 2 + clen + 4 + value_len;
    size_t padded = (raw / SEAL_PAD_BLOCK + 1) * SEAL_PAD_BLOCK; /* sodium_pad always adds >= 1 */
    size_t total = hlen + padded + SEAL_TAG_BYTES;
    if (total > SEAL_FILE_MAX || total > out_cap)
        return seal_fail(err, SEAL_E_TOO_BIG, "sealed item would be %zu bytes, over the limit", total);

    memcpy(out, SEAL_MAGIC, SEAL_MAGIC_LEN);
    out[5] = SEAL_VERSION;
    out[6] = SEAL_AEAD_XCHACHA;
    out[7] = SEAL_KDF_KEYRING;
    out[8] = 0;
    memcpy(out + 9, k->id, SEAL_KEY_ID_BYTES);
    seal_put_u64(out + 25, created);
    seal_put_u64(out + 33, generation);
    seal_put_u16(out + 41, (uint16_t)plen);
    memcpy(out + SEAL_FIXED_HEADER, purpose, plen);
    uint8_t *nonce = out + SEAL_FIXED_HEADER + plen;
    randombytes_buf(nonce, SEAL_NONCE_BYTES);

    /* The payload is assembled in OUT and encrypted in place (the AEAD
     * XORs the stream, then MACs the ciphertext): callers hand a
     * sodium_malloc buffer so plaintext never sits in ordinary memory. */
    uint8_t *p = out + hlen;
    p[0] = SEAL_PAYLOAD_VERSION;
    seal_put_u16(p + 1, (uint16_t)ilen);
    memcpy(p + 3, bind->issuer, ilen);
    seal_put_u16(p + 3 + ilen, (uint16_t)clen);
    memcpy(p + 5 + ilen, bind->client_id, clen);
    seal_put_u32(p + 5 + ilen + clen, (uint32_t)value_len);
    memcpy(p + 9 + ilen + clen, value, value_len);
    size_t plen_padded = 0;
    if (sodium_pad(&plen_padded, p, raw, SEAL_PAD_BLOCK, padded) != 0 || plen_padded != padded) {
        sodium_memzero(p, padded);
        return seal_fail(err, SEAL_E_INVAL, "padding failed");
    }
    unsigned long long clen_out = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(p, &clen_out, p, padded, out, hlen, NULL, nonce, k->enc);
    *out_len = hlen + (size_t)clen_out;
    return SEAL_OK;
}

int seal_format_open(const seal_keyring *ring, const char *purpose, const seal_binding *bind,
                     const uint8_t *buf, size_t len, seal_secret *s, seal_err *err)
{
    seal_header h;
    seal_secret_clear(s);
    if (len > SEAL_FILE_MAX)
        return seal_fail(err, SEAL_E_TOO_BIG, "sealed file is %zu bytes, over the %u-byte limit", len,
                         SEAL_FILE_MAX);
    int rc = seal_header_parse(buf, len, &h, err);
    if (rc != SEAL_OK)
        return rc;
    size_t plen = strlen(h.purpose);
    size_t hlen = SEAL_FIXED_HEADER + plen + SEAL_NONCE_BYTES;
    if (len < hlen + SEAL_TAG_BYTES + SEAL_PAD_BLOCK)
        return seal_fail(err, SEAL_E_FORMAT, "sealed file is truncated (%zu bytes)", len);
    size_t clen = len - hlen;
    if ((clen - SEAL_TAG_BYTES) % SEAL_PAD_BLOCK != 0)
        return seal_fail(err, SEAL_E_FORMAT, "sealed file has a bad length %zu (truncated or extended)", len);
    if (purpose != NULL && strcmp(purpose, h.purpose) != 0)
        return seal_fail(err, SEAL_E_PURPOSE, "file was sealed for \"%s\", not \"%s\": it was moved or "
                                              "copied over; seal the right secret with vap-seal put %s",
                         h.purpose, purpose, purpose);
    const struct seal_key *k = seal_keyring_find(ring, h.key_id);
    if (k == NULL) {
        char hex[2 * SEAL_KEY_ID_BYTES + 1];
        seal_key_id_hex(h.key_id, hex);
        return seal_fail(err, SEAL_E_KEY_UNKNOWN, "sealed with key %s, which is not in this keyring: use "
                                                  "the keyring it was sealed with, or put the secret again",
                         hex);
    }
    if (k->state == SEAL_KEY_RETIRED) {
        char hex[2 * SEAL_KEY_ID_BYTES + 1];
        seal_key_id_hex(h.key_id, hex);
        return seal_fail(err, SEAL_E_KEY_RETIRED, "sealed with retired key %s: put the secret again",
                         hex);
    }
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(s->buf, &mlen, NULL, buf + hlen, clen, buf, hlen,
                                                   buf + SEAL_FIXED_HEADER + plen, k->enc) != 0) {
        s->used = clen; /* libsodium zeroes it on failure; wipe anyway */
        return seal_fail(err, SEAL_E_AUTH, "sealed file failed authentication: it was altered or "
                                           "corrupted; restore it or put the secret again");
    }
    s->used = (size_t)mlen;
    rc = seal_format_parse_payload(s, (size_t)mlen, err);
    if (rc != SEAL_OK)
        goto out;
    if (bind != NULL && bind->issuer != NULL &&
        (strlen(bind->issuer) != s->issuer_len || memcmp(bind->issuer, s->buf + s->issuer_off, s->issuer_len))) {
        rc = seal_fail(err, SEAL_E_BINDING, "sealed for another issuer than the configured one (a store "
                                            "from another practice?): put the secret again for this issuer");
        goto out;
    }
    if (bind != NULL && bind->client_id != NULL &&
        (strlen(bind->client_id) != s->client_len ||
         memcmp(bind->client_id, s->buf + s->client_off, s->client_len))) {
        rc = seal_fail(err, SEAL_E_BINDING, "sealed for another client_id than the configured one: put "
                                            "the secret again for this client");
        goto out;
    }
    s->generation = h.generation;
    s->created = h.created;
    s->loaded = 1;
out:
    if (rc != SEAL_OK)
        seal_secret_clear(s);
    return rc;
}

/* Purpose names double as file names: a-z 0-9 _ -, not leading '-'. */
static int format_purpose_valid(const uint8_t *p, size_t len)
{
    return seal_name_valid_len((const char *)p, len);
}

/* Parses the authenticated payload in s->buf[0..len); copies issuer and
 * client_id, NUL-terminated, to the buffer's tail (SEAL_SECRET_TAIL) so
 * seal_secret_binding can hand out C strings.  Authenticated is not
 * trusted: the tail holds SEAL_BINDING_MAX bytes of each, whatever the
 * lengths say. */
int seal_format_parse_payload(seal_secret *s, size_t len, seal_err *err)
{
    if (len > SEAL_FILE_MAX)
        return seal_fail(err, SEAL_E_TOO_BIG, "sealed payload is over %u bytes", SEAL_FILE_MAX);
    size_t raw = 0;
    if (sodium_unpad(&raw, s->buf, len, SEAL_PAD_BLOCK) != 0)
        return seal_fail(err, SEAL_E_FORMAT, "sealed payload has bad padding");
    const uint8_t *p = s->buf;
    if (raw < 1 + 2 || p[0] != SEAL_PAYLOAD_VERSION)
        return seal_fail(err, SEAL_E_VERSION, "sealed payload version is not supported");
    size_t off = 1;
    size_t ilen = seal_get_u16(p + off);
    off += 2;
    if (ilen == 0 || ilen > SEAL_BINDING_MAX)
        return seal_fail(err, SEAL_E_FORMAT, "sealed payload names an issuer of %zu bytes (must be 1..%u): "
                                             "put the secret again", ilen, SEAL_BINDING_MAX);
    if (ilen > raw - off || raw - off - ilen < 2)
        return seal_fail(err, SEAL_E_FORMAT, "sealed payload is malformed");
    s->issuer_off = off;
    s->issuer_len = ilen;
    off += ilen;
    size_t clen = seal_get_u16(p + off);
    off += 2;
    if (clen == 0 || clen > SEAL_BINDING_MAX)
        return seal_fail(err, SEAL_E_FORMAT, "sealed payload names a client_id of %zu bytes (must be "
                                             "1..%u): put the secret again", clen, SEAL_BINDING_MAX);
    if (clen > raw - off || raw - off - clen < 4)
        return seal_fail(err, SEAL_E_FORMAT, "sealed payload is malformed");
    s->client_off = off;
    s->client_len = clen;
    off += clen;
    size_t vlen = seal_get_u32(p + off);
    off += 4;
    if (vlen != raw - off)
        return seal_fail(err, SEAL_E_FORMAT, "sealed payload is malformed");
    s->value_off = off;
    s->value_len = vlen;
    /* Handed out as C strings: an embedded NUL would cut them short. */
    if (memchr(p + s->issuer_off, 0, ilen) != NULL || memchr(p + s->client_off, 0, clen) != NULL)
        return seal_fail(err, SEAL_E_FORMAT, "sealed payload has a NUL in its issuer or client_id: put the "
                                             "secret again");
    uint8_t *tail = s->buf + SEAL_FILE_MAX;
    s->tail_used = ilen + clen + 2;
    memcpy(tail, p + s->issuer_off, ilen);
    tail[ilen] = '\0';
    memcpy(tail + ilen + 1, p + s->client_off, clen);
    tail[ilen + 1 + clen] = '\0';
    s->issuer_off = SEAL_FILE_MAX;
    s->client_off = SEAL_FILE_MAX + ilen + 1;
    return SEAL_OK;
}
