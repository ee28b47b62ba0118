import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/**
 * A real OpenSSH server on loopback, for tests (and the benchmark) that drive hoard over ssh.
 * Plain JavaScript with JSDoc types, so that both vitest and bench/run.mjs can import it.
 *
 * Everything it needs (host key, client key, configs, known_hosts, logs) lives
 * in one private temporary folder; nothing in ~/.ssh or /etc/ssh is read or written.
 */

/**
 * @typedef {object} SshServer
 * @property {'127.0.0.1'} host
 * @property {number} port
 * @property {string} user The login user: whoever runs the tests.
 * @property {string} dir Private temp dir (mode 0700) holding keys, configs and logs.
 * @property {string} alias 'hoard-test-remote': a Host alias defined in `configFile`.
 * @property {string} configFile An ssh client config that reaches the server through `alias` with no prompts.
 * @property {string} sshCommand `ssh -F <configFile>`: what tests put in HOARD_SSH_COMMAND (like GIT_SSH_COMMAND).
 * @property {() => Promise<void>} stop Kill sshd and remove `dir`.
 */

/**
 * @typedef {object} SshdOptions
 * @property {string[]} [path] Folders put first on the PATH of commands run through the server.
 * @property {Record<string, string>} [env] More environment variables for those commands.
 */

const SSHD = '/usr/sbin/sshd';
const ALIAS = 'hoard-test-remote';
const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const BIND_ATTEMPTS = 4;

/**
 * Quote one word for a POSIX shell.
 * @param {string} s
 * @returns {string}
 */
function shellQuote(s) {
  return /^[A-Za-z0-9_\-+=.,:/@%]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Quote one argument for ssh_config / sshd_config (OpenSSH's argv_split honours "..." and \ escapes).
 * @param {string} s
 * @returns {string}
 */
function configQuote(s) {
  if (/[\r\n\0]/.test(s)) throw new Error(`cannot put a newline or NUL in an ssh config value: ${JSON.stringify(s)}`);
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/**
 * @param {string} file
 * @param {string} comment
 * @returns {Promise<void>}
 */
async function keygen(file, comment) {
  await execa('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', comment, '-f', file], { stdin: 'ignore' });
}

/**
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @param {SshdOptions} [options]
 * @returns {Promise<SshServer>}
 */
export async function startSshd(options = {}) {
  const user = os.userInfo().username;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-sshd-'));
  fs.chmodSync(dir, 0o700);

  /** @type {import('node:child_process').ChildProcess | undefined} */
  let child;
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const cleanup = async () => {
    process.removeListener('exit', killOnExit);
    if (child && child.exitCode === null && child.signalCode === null) {
      const done = exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 3_000);
      await done;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    // sshd refuses to start without its privilege-separation directory.
    if (!fs.existsSync('/run/sshd')) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

    const hostKey = path.join(dir, 'host_ed25519');
    const clientKey = path.join(dir, 'client_ed25519');
    await Promise.all([keygen(hostKey, 'hoard-test-host'), keygen(clientKey, 'hoard-test-client')]);
    const hostPub = fs.readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    fs.writeFileSync(path.join(dir, 'authorized_keys'), fs.readFileSync(`${clientKey}.pub`), { mode: 0o600 });

    const sshdConfig = path.join(dir, 'sshd_config');
    const configFile = path.join(dir, 'ssh_config');
    const knownHosts = path.join(dir, 'known_hosts');
    const remotePath = [...(options.path ?? []), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
    // SHLVL=1: bash run by sshd with SHLVL unset reads ~/.bashrc, and this machine's (pyenv init and
    // rehash, under a lock) made logins of tests running side by side wait for each other for seconds.
    const setEnv = [`PATH=${remotePath}`, 'SHLVL=1', ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)];

    let lastError = '';
    for (let attempt = 1; attempt <= BIND_ATTEMPTS; attempt++) {
      const port = await freePort();
      fs.writeFileSync(
        sshdConfig,
        [
          `ListenAddress ${HOST}`,
          `Port ${port}`,
          `HostKey ${configQuote(hostKey)}`,
          `PidFile ${configQuote(path.join(dir, 'sshd.pid'))}`,
          `AuthorizedKeysFile ${configQuote(path.join(dir, 'authorized_keys'))}`,
          'StrictModes no',
          'UsePAM no',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'PubkeyAuthentication yes',
          'PermitRootLogin prohibit-password',
          `AllowUsers ${user}`,
          // One line: sshd keeps only the first SetEnv directive and ignores later ones.
          `SetEnv ${setEnv.map(configQuote).join(' ')}`,
          'PermitUserEnvironment no',
          'AllowAgentForwarding no',
          'AllowTcpForwarding no',
          'X11Forwarding no',
          'PrintMotd no',
          'PrintLastLog no',
          'UseDNS no',
          'LogLevel ERROR',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      fs.writeFileSync(knownHosts, `[${HOST}]:${port} ${hostPub}\n`, { mode: 0o600 });
      fs.writeFileSync(
        configFile,
        [
          `Host ${ALIAS}`,
          `  HostName ${HOST}`,
          `  Port ${port}`,
          `  User ${user}`,
          `  IdentityFile ${configQuote(clientKey)}`,
          '  IdentitiesOnly yes',
          '  IdentityAgent none',
          '  StrictHostKeyChecking yes',
          `  UserKnownHostsFile ${configQuote(knownHosts)}`,
          '  GlobalKnownHostsFile /dev/null',
          '  UpdateHostKeys no',
          '  BatchMode yes',
          '  ControlMaster no',
          '  ControlPath none',
          '  ForwardAgent no',
          '  ConnectTimeout 5',
          '  LogLevel ERROR',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );

      let stderr = '';
      const proc = spawn(SSHD, ['-D', '-e', '-f', sshdConfig], { detached: false, stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      const procStderr = /** @type {import('node:stream').Readable} */ (proc.stderr);
      procStderr.setEncoding('utf8');
      procStderr.on('data', (/** @type {string} */ d) => {
        stderr += d;
        fs.appendFileSync(path.join(dir, 'sshd.log'), d);
      });
      /** @type {Error | undefined} */
      let spawnError;
      proc.once('error', (e) => (spawnError = e));
      const dead = () => spawnError !== undefined || proc.exitCode !== null || proc.signalCode !== null;

      // Ready means a real login works, not just an open port.
      const deadline = Date.now() + READY_TIMEOUT_MS;
      let lastSsh = '';
      while (Date.now() < deadline && !dead()) {
        const r = await execa('ssh', ['-F', configFile, ALIAS, 'true'], { reject: false, stdin: 'ignore', timeout: 5_000 });
        if (r.exitCode === 0 && !dead()) {
          return {
            host: HOST,
            port,
            user,
            dir,
            alias: ALIAS,
            configFile,
            sshCommand: `ssh -F ${shellQuote(configFile)}`,
            stop: cleanup,
          };
        }
        lastSsh = r.stderr || r.shortMessage || `exit ${r.exitCode}`;
        await sleep(50);
      }

      if (!dead()) {
        proc.kill('SIGKILL');
        await exited(proc);
        throw new Error(`sshd on port ${port} did not accept a login within ${READY_TIMEOUT_MS} ms\nssh: ${lastSsh}\nsshd stderr:\n${stderr}`);
      }
      if (spawnError) throw new Error(`could not run ${SSHD}: ${/** @type {Error} */ (spawnError).message}`);
      await exited(proc);
      lastError = `sshd exited (code ${proc.exitCode}, signal ${proc.signalCode}) on port ${port}\nsshd stderr:\n${stderr}`;
      // Most likely someone took the port between freePort() and bind(): try another.
      if (!/bind|address already in use/i.test(stderr)) break;
    }
    throw new Error(`could not start sshd: ${lastError}`);
  } catch (error) {
    await cleanup();
    throw error;
  }
}
