//! `export_plugin!`: the one line that makes a library a qtforge plugin library.

/// Exports the plugins of this library: writes its `qtforge_plugin_descriptor`
/// function, with one `open` function per plugin.
///
/// ```ignore
/// export_plugin!(Hello);           // one plugin
/// export_plugin!(Base, Extra);     // several plugins in one library
/// ```
///
/// Use it once per library (a `cdylib`), listing every plugin type. The
/// descriptor is built from the plugins' constants on the first call and the
/// same pointer is returned on every call; no plugin code runs until the host
/// calls a plugin's `open`.
///
/// The constants are checked when the library compiles: a name, version or
/// list the host would refuse, or two plugins of one name, is a compile error
/// saying which constant is wrong.
///
/// ```compile_fail,E0080
/// # use qtforge_plugin::{export_plugin, Plugin};
/// #[derive(Default)]
/// struct Bad;
/// impl Plugin for Bad {
///     const NAME: &'static str = "Bad Name!"; // Plugin::NAME must match [a-z0-9_.-]+ ...
///     const VERSION: &'static str = "1.0.0";
/// }
/// export_plugin!(Bad);
/// ```
///
/// ```compile_fail,E0080
/// # use qtforge_plugin::{export_plugin, Plugin};
/// #[derive(Default)]
/// struct One;
/// impl Plugin for One {
///     const NAME: &'static str = "twin";
///     const VERSION: &'static str = "1.0.0";
/// }
/// #[derive(Default)]
/// struct Two;
/// impl Plugin for Two {
///     const NAME: &'static str = "twin"; // two plugins of the library have the same name
///     const VERSION: &'static str = "1.0.0";
/// }
/// export_plugin!(One, Two);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($($plugin:ty),+ $(,)?) => {
        // each plugin on its own, so that the compiler's note names the type
        const _: () = {
            $( $crate::__private::assert_valid::<$plugin>(); )+
        };

        /// The qtforge plugin descriptor of this library (ABI version 1).
        #[unsafe(no_mangle)]
        pub extern "C" fn qtforge_plugin_descriptor() -> *const $crate::abi::Descriptor {
            const ENTRIES: &[$crate::__private::Entry] =
                &[$($crate::__private::Entry::of::<$plugin>()),+];
            const _: () = $crate::__private::assert_distinct(ENTRIES);
            static DESCRIPTOR: ::std::sync::OnceLock<
                ::std::option::Option<$crate::__private::DescriptorData>,
            > = ::std::sync::OnceLock::new();
            $crate::__private::descriptor(&DESCRIPTOR, ENTRIES)
        }
    };
}
