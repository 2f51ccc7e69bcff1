--- `require 'multi_dev_framework'`: the name the wezterm-parallel specification's integration
--- snippet uses. The same module as `require 'wezterm_parallel'` (setup, actions, ...).
return require 'wezterm_parallel'
