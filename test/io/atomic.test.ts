import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { type AtomicFsOps, removeOrphanTemps, sha256, sha256File, tempPathFor, writeFileAtomic } from '../../src/io/atomic.js';

function withDir(fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'nabla-atomic-'));
  try {
    fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: injected`), { code });

test('writes a new file and replaces an existing one, leaving no temp', () => {
  withDir((dir) => {
    const p = join(dir, 'ckpt.bin');
    writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...fs.readFileSync(p)], [1, 2, 3]);
    writeFileAtomic(p, 'héllo');
    assert.equal(fs.readFileSync(p, 'utf8'), 'héllo');
    writeFileAtomic(p, new Uint8Array(0));
    assert.equal(fs.statSync(p).size, 0);
    assert.deepEqual(fs.readdirSync(dir), ['ckpt.bin']);
  });
});

test('writing into a missing directory fails and creates nothing', () => {
  withDir((dir) => {
    assert.throws(() => writeFileAtomic(join(dir, 'nope', 'x.bin'), 'data'), { code: 'ENOENT' });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test('temp names live in the target directory and match the orphan pattern', () => {
  withDir((dir) => {
    const tmp = tempPathFor(join(dir, 'model.safetensors'));
    assert.equal(join(tmp, '..'), dir);
    assert.match(tmp, new RegExp(`/\\.model\\.safetensors\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
  });
});

// Fail each step before the rename in turn: the old file must survive and no temp may remain.
for (const [step, code] of [
  ['openSync', 'EACCES'],
  ['writeSync', 'ENOSPC'],
  ['fsyncSync', 'EIO'],
  ['closeSync', 'EIO'],
  ['renameSync', 'EXDEV'],
] as const) {
  test(`fault at ${step} (${code}): error surfaces, old content intact, no temp left`, () => {
    withDir((dir) => {
      const p = join(dir, 'ckpt.bin');
      fs.writeFileSync(p, 'old');
      let calls = 0;
      const ops: Partial<AtomicFsOps> = {
        [step]: (...args: unknown[]) => {
          calls++;
          // close must still release the fd even when it reports failure
          if (step === 'closeSync') fs.closeSync(args[0] as number);
          throw errno(code);
        },
      };
      assert.throws(() => writeFileAtomic(p, 'new content', { fsOps: ops }), { code });
      assert.ok(calls >= 1);
      assert.equal(fs.readFileSync(p, 'utf8'), 'old');
      assert.deepEqual(fs.readdirSync(dir), ['ckpt.bin']);
    });
  });
}

test('short writes are continued until all bytes are written', () => {
  withDir((dir) => {
    const p = join(dir, 'f.bin');
    const data = new Uint8Array(10_000).map((_, i) => i % 251);
    const ops: Partial<AtomicFsOps> = {
      writeSync: (fd, buf, off, len, pos) => fs.writeSync(fd, buf, off, Math.min(len, 7), pos),
    };
    writeFileAtomic(p, data, { fsOps: ops });
    assert.deepEqual(new Uint8Array(fs.readFileSync(p)), data);
  });
});

test('a write that makes no progress is an error, not a truncated file', () => {
  withDir((dir) => {
    const p = join(dir, 'f.bin');
    fs.writeFileSync(p, 'old');
    assert.throws(() => writeFileAtomic(p, 'new', { fsOps: { writeSync: () => 0 } }), /no progress/);
    assert.equal(fs.readFileSync(p, 'utf8'), 'old');
    assert.deepEqual(fs.readdirSync(dir), ['f.bin']);
  });
});

test('a failing directory fsync after the rename is surfaced (content is already new)', () => {
  withDir((dir) => {
    const p = join(dir, 'f.bin');
    fs.writeFileSync(p, 'old');
    let n = 0;
    const ops: Partial<AtomicFsOps> = {
      fsyncSync: (fd) => {
        if (++n === 2) throw errno('EIO'); // 1st = file, 2nd = directory
        fs.fsyncSync(fd);
      },
    };
    assert.throws(() => writeFileAtomic(p, 'new', { fsOps: ops }), { code: 'EIO' });
    assert.equal(fs.readFileSync(p, 'utf8'), 'new');
    assert.deepEqual(fs.readdirSync(dir), ['f.bin']);
  });
});

test('the file is fsynced before the rename, and the directory after it', () => {
  withDir((dir) => {
    const log: string[] = [];
    const ops: Partial<AtomicFsOps> = {
      fsyncSync: (fd) => {
        log.push(fs.fstatSync(fd).isDirectory() ? 'fsync(dir)' : 'fsync(file)');
        fs.fsyncSync(fd);
      },
      renameSync: (a, b) => {
        log.push('rename');
        fs.renameSync(a, b);
      },
    };
    writeFileAtomic(join(dir, 'f.bin'), 'x', { fsOps: ops });
    assert.deepEqual(log, process.platform === 'win32' ? ['fsync(file)', 'rename'] : ['fsync(file)', 'rename', 'fsync(dir)']);
  });
});

test('removeOrphanTemps deletes only crash leftovers', () => {
  withDir((dir) => {
    const orphans = ['.model.safetensors.1234.0123456789ab.tmp', '.ckpt.json.99.ffffffffffff.tmp'];
    const keep = ['model.safetensors', '.hidden', 'x.tmp', '.a.12.xyz.tmp', '.a.12.0123456789ab.tmp.bak', '.a.pid.0123456789ab.tmp'];
    for (const f of [...orphans, ...keep]) fs.writeFileSync(join(dir, f), 'x');
    fs.mkdirSync(join(dir, '.d.1.0123456789ab.tmp')); // a directory with a matching name is left alone
    const removed = removeOrphanTemps(dir).map((p) => p.slice(dir.length + 1)).sort();
    assert.deepEqual(removed, [...orphans].sort());
    assert.deepEqual(fs.readdirSync(dir).sort(), [...keep, '.d.1.0123456789ab.tmp'].sort());
    // A temp from a real (interrupted) write matches the pattern.
    const tmp = tempPathFor(join(dir, 'model.safetensors'));
    fs.writeFileSync(tmp, 'partial');
    assert.deepEqual(removeOrphanTemps(dir, { minAgeMs: 60_000 }), []); // too young to be an orphan
    assert.deepEqual(removeOrphanTemps(dir), [tmp]);
  });
});

test('sha256 and sha256File give standard hex digests', () => {
  assert.equal(sha256(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(sha256(new Uint8Array([0x61, 0x62, 0x63])), sha256('abc'));
  withDir((dir) => {
    const p = join(dir, 'f');
    const big = new Uint8Array(3 * (1 << 20) + 5).map((_, i) => (i * 31) & 0xff); // spans several read chunks
    fs.writeFileSync(p, big);
    assert.equal(sha256File(p), sha256(big));
    fs.writeFileSync(p, '');
    assert.equal(sha256File(p), sha256(''));
  });
});
