import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tempDir } from './trees.js';

/**
 * A real S3 API server on loopback, for tests that drive hoard through rclone's S3 backend.
 *
 * It is s3rver (a Koa app) running inside the test process, storing objects under a private
 * temporary folder; nothing but 127.0.0.1 is touched. Known limits of s3rver that tests should
 * stay clear of:
 *  - no UploadPartCopy, so rclone's multipart server-side copy fails (501 NotImplemented):
 *    leave `copy_cutoff` at rclone's default (4.6 GiB) so server-side copies are single CopyObject calls;
 *  - each key is stored as files named `<last component>._S3rver_metadata.json` etc., so a key whose
 *    last component is longer than 233 bytes (or another one longer than 255) cannot be stored. s3rver would crash the whole test process
 *    on it (an unhandled ENAMETOOLONG stream error), so such writes get a 400 KeyTooLongError instead.
 *  - the server answers inside the test process: run rclone asynchronously (execa, not execaSync or
 *    spawnSync), or the blocked event loop never answers it and both hang.
 */
export interface S3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** A bucket created at start ('hoard-test' unless told otherwise). */
  bucket: string;
  /** s3rver's data directory (temporary, removed by stop). */
  dir: string;
  /**
   * Environment that defines an rclone remote named `s3test` for this server, so that
   * `rclone:s3test:<bucket>/prefix` URLs work. Put it over process.env (and an empty RCLONE_CONFIG).
   */
  rcloneEnv: Record<string, string>;
  /** Close the server and remove `dir`. */
  stop(): Promise<void>;
}

/** The part of Koa's context used here. */
interface KoaContext {
  method: string;
  path: string;
  status: number;
  type: string;
  body: unknown;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

/** The part of s3rver's API (a Koa application) used here; the package ships no types. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
  middleware: KoaMiddleware[];
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

/** The longest suffix s3rver's filesystem store appends to a key's last component. */
const LONGEST_SUFFIX = '._S3rver_metadata.json';
const NAME_MAX = 255;

/** Refuse writes of keys that s3rver's store cannot hold as file names, before they crash it. */
const refuseOverlongKeys: KoaMiddleware = async (ctx, next) => {
  if (ctx.method === 'PUT' || ctx.method === 'POST') {
    let components: string[];
    try {
      components = ctx.path.split('/').map((c) => decodeURIComponent(c));
    } catch {
      components = [];
    }
    const tooLong = (c: string, i: number) =>
      Buffer.byteLength(c) + (i === components.length - 1 ? LONGEST_SUFFIX.length : 0) > NAME_MAX;
    if (components.some(tooLong)) {
      ctx.status = 400;
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>KeyTooLongError</Code>' +
        `<Message>s3rver stores keys as file names: at most ${NAME_MAX - LONGEST_SUFFIX.length} bytes in the last component</Message></Error>`;
      return;
    }
  }
  await next();
};

/** s3rver's fixed credentials. */
const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';

export async function startS3(options: { bucket?: string } = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'hoard-test';
  const dir = tempDir('hoard-s3rver-');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0, // any free port; run() resolves with the bound address
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket }],
  });
  // Koa composes `middleware` when run() starts listening, so this runs before s3rver's own.
  server.middleware.unshift(refuseOverlongKeys);
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;

  const rcloneEnv: Record<string, string> = {
    RCLONE_CONFIG_S3TEST_TYPE: 's3',
    RCLONE_CONFIG_S3TEST_PROVIDER: 'Other',
    RCLONE_CONFIG_S3TEST_ENDPOINT: endpoint,
    RCLONE_CONFIG_S3TEST_REGION: 'us-east-1',
    // Use exactly these keys, never credentials found in AWS_* variables or ~/.aws.
    RCLONE_CONFIG_S3TEST_ENV_AUTH: 'false',
    RCLONE_CONFIG_S3TEST_ACCESS_KEY_ID: ACCESS_KEY,
    RCLONE_CONFIG_S3TEST_SECRET_ACCESS_KEY: SECRET_KEY,
    // http://127.0.0.1:port/<bucket>/<key>: there is no DNS name to put the bucket in.
    RCLONE_CONFIG_S3TEST_FORCE_PATH_STYLE: 'true',
    // rclone switches to multipart uploads only above 200 MiB by default; from 5 MiB on (S3's
    // smallest part), in 5 MiB parts, so that test-sized files take the same path huge ones do.
    RCLONE_CONFIG_S3TEST_UPLOAD_CUTOFF: '5M',
    RCLONE_CONFIG_S3TEST_CHUNK_SIZE: '5M',
    // When AWS_CA_BUNDLE is set (as it is on our machines), the AWS SDK inside rclone 1.60 fails
    // to make any S3 remote at all: "LoadCustomCABundleError: unable to load custom CA bundle,
    // HTTPClient's transport unsupported type ... *fshttp.Transport". Empty counts as unset.
    // (The server is plain http anyway; rclone's own --ca-cert is the way to trust a CA.)
    AWS_CA_BUNDLE: '',
  };

  let stopped = false;
  return {
    endpoint,
    bucket,
    dir,
    rcloneEnv,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        // Drop idle keep-alive sockets (rclone's are gone with its process) so close() is prompt.
        server.httpServer?.closeAllConnections();
        await server.close();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
