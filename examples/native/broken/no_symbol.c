/*
 * A shared library that is not a qtforge plugin library: it has no
 * qtforge_plugin_descriptor. qtforge refuses it with symbol_missing.
 */
int qtforge_broken_no_symbol(void) {
    return 0;
}
