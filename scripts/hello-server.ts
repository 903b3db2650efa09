import Fastify from 'fastify';

// The baseline for `npm run bench`: bare Fastify 5, same framework and JSON parser as the service but no
// work per request, so "service / hello" says how much of the framework's ceiling the service keeps.
const app = Fastify({ logger: false });

app.get('/hello', async () => ({ hello: 'world' }));
app.post('/hello', async (request) => request.body);

// A clean exit on SIGTERM, as the service does: `node --cpu-prof` writes its profile only on a normal exit.
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});

await app.listen({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST ?? '127.0.0.1' });
