"""A plugin whose import fails, as a plugin with a missing dependency would."""

raise RuntimeError("this plugin is broken on purpose")
