// Imported first by cmd/main.ts, so that it runs before any other module: with a SIGUSR1 listener, Node no
// longer opens its inspector on that signal (which any local user could then connect to). serve adds its
// status handler on top; the other commands simply ignore the signal.
process.on('SIGUSR1', () => {});
