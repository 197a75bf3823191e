/* fake_libpq.c - a libpq.so.5 with none of libpq's functions, found through
 * LD_LIBRARY_PATH by test-pqlib's child: the plugin must refuse it with an
 * error that says what to install, not crash on a missing function. */
int vap_fake_libpq = 1;
