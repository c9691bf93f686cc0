// Imported first by cmd/main.ts, so that it runs before any other module: with a SIGUSR1 listener, Node no
// longer opens its inspector on that signal (which any local user could then connect to). serve adds its
// status handler on top; the other commands simply ignore the signal. Until this runs, Node's own handler is
// in place (it is installed before any JavaScript): a SIGUSR1 then makes Node try the inspector, which the
// single executable pins to an address no machine has (scripts/sea.ts), and Node prints its failure itself.
process.on('SIGUSR1', () => {});
