/* fuzz_jws.c - JWS compact parsing and verification (plugin/jose/jose.c) with
 * fixed keys, so inputs that parse go on to the signature check: RFC 7515's
 * A.2 RSA and A.3 P-256 keys, and an RSA-2048 and a P-384 key generated once
 * with GnuTLS for this target (public halves only; the corpus holds tokens
 * they signed).  A token that verifies has its claims parsed as well. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"
#include "jose/jose_claims.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_jws_keys[] =
    "{\"keys\":["
    /* RFC 7515 A.2 */
    "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\""
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt"
    "0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHS"
    "XndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I"
    "5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"},"
    /* RFC 7515 A.3 */
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
    /* generated for this target */
    "{\"kty\":\"RSA\",\"n\":\"upeiD8SsfJgZFUUnMCgn5yfZJ5t9eGCTeXuHOrzlKO8lngo_B1VgBDxgN05BSaHFl"
    "6R-Mw-WqYvyLWZV9VpaQ154yYEYCAzgOn0F5gIINFBTO3d0o5hVWz0IQKywQeG_XJUFZkiR0xr1FvBFwYNOGSfDiHq"
    "5BPiKiXa6JmUaCSq4dlRs-0EVdb01DLzJNZ_lxeyppIra-a4tH0M5ApVB9cwhLCK5KBP4dDsUWksDKmm2O80kuA-cr"
    "vDugKsyEbq4uKLQuo3ecPswTXls37gPa2WXNsmNoaOsnLvacOAhGU_Ctgrch5YYXKgRPe1XtiBrPYQ2T1f11sxCrLm"
    "Hi7BVrw\",\"e\":\"AQAB\",\"kid\":\"r1\",\"use\":\"sig\"}"
    ","
    "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"d8EqdFlquzB7Q52Fy0XAGAGi9M5Z-7mxFvf2w20hMdtMXZGO"
    "gPdpGFsLaZp_Zu5T\",\"y\":\"KtbDDK78PAGkNOMPla7aAUG_lh72kVXMjkfJ6StREsUGUKKNvaX4poDJPPWI66A"
    "X\",\"kid\":\"e1\",\"alg\":\"ES384\"}"
    "]}";

static struct jwks fuzz_keys;
static int fuzz_keys_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_keys_ready) {
        vap_error err;
        VAP_INIT(vap_error, err);
        if (jwks_parse(fuzz_jws_keys, sizeof fuzz_jws_keys - 1, &fuzz_keys, &err) != VAP_OK ||
            fuzz_keys.n != 4)
            abort(); /* the fixed keys must load, or nothing is verified */
        fuzz_keys_ready = 1;
    }
    struct jose_jws j;
    char why[128];
    if (jose_jws_parse((const char *)data, size, &j, why, sizeof why) != JOSE_OK)
        return 0;
    if (jose_jws_verify(&j, &fuzz_keys, why, sizeof why) == JOSE_OK) {
        struct jose_claims c;
        if (jose_claims_parse((const char *)j.payload, j.payload_len, &c, why, sizeof why) == 0)
            jose_claims_free(&c);
    }
    jose_jws_free(&j);
    return 0;
}
