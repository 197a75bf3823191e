/* object.h - objects the plugin hands to the host, freed by api->release().
 *
 * Each object is preceded by a hidden header, so release() needs no type
 * argument and can refuse a pointer it never handed out.  The destructor frees
 * what the object owns; the object's own bytes are wiped before free. */
#ifndef VAP_OBJECT_H
#define VAP_OBJECT_H

#include <stddef.h>

typedef void (*obj_dtor_fn)(void *obj);

/* A zeroed object of size bytes whose first two fields (struct_size,
 * abi_minor) are filled in.  dtor may be NULL.  NULL on out of memory. */
void *obj_new(size_t size, obj_dtor_fn dtor);

/* Run the destructor, wipe and free.  NULL and foreign pointers are ignored
 * (a foreign pointer is logged: it is a host bug, not worth a crash). */
void obj_release(void *obj);

/* strdup into malloc'd memory that the object's destructor must free;
 * NULL src gives "" .  NULL on out of memory. */
char *obj_strdup(const char *src);

/* Wipe and free a string from obj_strdup. */
void obj_strfree(const char *s);

#endif
