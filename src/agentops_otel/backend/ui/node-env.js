// virtual-core's ES module build reads process.env.NODE_ENV, which a bundler would replace with a
// constant. This page has no bundler (and needs none), so it answers "production" itself; imported
// before the library so that it is in place whenever the library looks.
if (!globalThis.process) globalThis.process = { env: { NODE_ENV: "production" } };
