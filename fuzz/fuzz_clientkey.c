/*
 * fuzz_clientkey.c - fuzz target for the client signing-key set record
 * (crypto/clientkey.c, ckey_set_parse), its serializer on whatever it accepts
 * (an accepted image must serialize back to the same bytes) and promote.
 */
#include "clientkey.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *img;
    struct ckey_set s;
    size_t len = 0;
    if (img == NULL && (sodium_init() < 0 || (img = sodium_malloc(65536)) == NULL))
        return 0;
    if (ckey_set_parse(data, size, &s) != CKEY_OK)
        return 0;
    if (ckey_set_serialize(&s, img, 65536, &len) != CKEY_OK || len != size ||
        memcmp(img, data, size) != 0)
        abort(); /* parse and serialize disagree: a format bug */
    int had_next = ckey_set_find(&s, CKEY_NEXT) != NULL;
    if ((ckey_set_promote(&s) == CKEY_OK) != had_next || ckey_set_find(&s, CKEY_NEXT) != NULL ||
        (had_next && ckey_set_find(&s, CKEY_CURRENT) == NULL))
        abort(); /* promote must leave a current key and no next one */
    ckey_set_clear(&s);
    return 0;
}
