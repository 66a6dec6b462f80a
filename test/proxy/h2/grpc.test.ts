import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { TestCa, type KeyPair } from '../../helpers/pki.js';
import { startProxy, tempDir, type TestProxy } from '../../helpers/servers.js';
import { flowWhere } from '../../helpers/flows.js';
import { compileFilter } from '../../../src/filter/match.js';
import { summarize } from '../../../src/capture/flow.js';

interface Msg {
  text: string;
}
const json = {
  serialize: (v: Msg): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): Msg => JSON.parse(b.toString()) as Msg,
};
/** A service written out by hand: JSON messages, so no .proto compiler is needed. */
const SERVICE = {
  echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  chat: { path: '/test.Echo/Chat', requestStream: true, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
} satisfies grpc.ServiceDefinition;

/** The generic client with the two methods SERVICE defines. */
type EchoClient = grpc.Client & {
  echo(m: Msg, cb: (err: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientUnaryCall;
  chat(): grpc.ClientDuplexStream<Msg, Msg>;
};

describe('gRPC through the proxy', () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost']);
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let server: grpc.Server;
  let port = 0;
  let client: EchoClient;
  const savedEnv = { grpc_proxy: process.env['grpc_proxy'], no_proxy: process.env['no_proxy'], NO_PROXY: process.env['NO_PROXY'] };

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')] });
    server = new grpc.Server();
    server.addService(SERVICE, {
      echo: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        if (call.request.text === 'missing') return cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
        const trailer = new grpc.Metadata();
        trailer.set('x-served-by', 'echo');
        cb(null, { text: call.request.text.toUpperCase() }, trailer);
      },
      chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
        call.on('data', (m: Msg) => call.write({ text: `re:${m.text}` }));
        call.on('end', () => call.end());
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(pair.keyPem), cert_chain: Buffer.from(pair.certPem) }]), (err, p) => (err ? reject(err) : resolve(p))),
    );
    // grpc-js reads its proxy from the environment when a channel is made.
    process.env['grpc_proxy'] = proxy.proxyUrl;
    process.env['no_proxy'] = '';
    process.env['NO_PROXY'] = '';
    const Client = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
    const proxyCa = await readFile(join(proxy.caDir, 'ca.pem'));
    client = new Client(`localhost:${port}`, grpc.credentials.createSsl(proxyCa)) as unknown as EchoClient;
  });
  after(async () => {
    client.close();
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    server.forceShutdown();
    await proxy.cleanup();
    await files.remove();
  });

  test('a unary call passes with its trailers, and the flow is listed as type:grpc', async () => {
    const trailers = new Promise<grpc.Metadata>((resolve) => {
      const call = client.echo({ text: 'hi' }, (err, reply) => {
        assert.equal(err, null);
        assert.deepEqual(reply, { text: 'HI' });
      });
      call.on('status', (s: grpc.StatusObject) => resolve(s.metadata));
    });
    assert.deepEqual((await trailers).get('x-served-by'), ['echo']);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/test.Echo/Echo') && f.state !== 'pending');
    assert.equal(flow.state, 'complete', JSON.stringify(flow.error));
    assert.equal(flow.request.httpVersion, '2');
    assert.equal(flow.serverConnection?.tls?.alpn, 'h2');
    assert.ok(flow.response?.trailers.some(([k, v]) => k === 'grpc-status' && v === '0'));
    assert.ok(compileFilter('type:grpc').test(summarize(flow)));
    assert.ok(!compileFilter('type:json').test(summarize(flow)));
  });

  test('an error status travels as a trailers-only answer', async () => {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.echo({ text: 'missing' }, (e) => resolve(e)));
    assert.equal(err?.code, grpc.status.NOT_FOUND);
    assert.equal(err?.details, 'no such thing');
  });

  test('a bidirectional stream exchanges messages both ways', async () => {
    const call = client.chat();
    const got: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (m: Msg) => {
        got.push(m.text);
        if (got.length < 3) call.write({ text: String(got.length) });
        else call.end();
      });
      call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve() : reject(new Error(s.details))));
      call.on('error', reject);
    });
    call.write({ text: '0' });
    await done;
    assert.deepEqual(got, ['re:0', 're:1', 're:2']);
  });
});
