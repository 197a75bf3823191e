/* b64url.h - strict base64url (RFC 4648 §5, no padding) for JOSE. */
#ifndef VAP_B64URL_H
#define VAP_B64URL_H

#include <stddef.h>

/* Bytes needed to decode len characters (an upper bound). */
#define B64URL_DECODED_MAX(len) (((len) / 4) * 3 + 2)
/* Characters produced by encoding n bytes, without the NUL. */
#define B64URL_ENCODED_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* Decode exactly len characters of unpadded base64url into out (room for
 * out_cap bytes).  Refused (-1): padding '=', whitespace, any character
 * outside [A-Za-z0-9_-], a length of 1 mod 4, non-zero unused trailing bits
 * (so every byte string has exactly one accepted encoding), or too little
 * room.  On success returns 0 and sets *out_len. */
int b64url_decode(const char *in, size_t len, unsigned char *out,
                  size_t out_cap, size_t *out_len)
    __attribute__((warn_unused_result));

/* Encode n bytes as unpadded base64url plus a NUL.  Returns -1 when out_cap
 * is smaller than B64URL_ENCODED_LEN(n) + 1, else 0. */
int b64url_encode(const unsigned char *in, size_t n, char *out, size_t out_cap);

#endif
