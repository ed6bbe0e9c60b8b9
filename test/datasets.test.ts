import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { openImageDataset, openImageFiles, openImages } from '../src/data/images.node.ts';
import { BadImageError, classCounts, listingWarnings } from '../src/data/images.ts';
import { omniglotDir } from './helpers/data.ts';
import { greyPng, makeTree } from './helpers/images.ts';

test('folder: labels from the relative folder path, code-unit order, hidden files ignored and reported', async () => {
  const png = await greyPng(1);
  const root = makeTree({
    'b/x/2.png': png, 'b/x/10.png': png, 'a/1.PNG': png, 'a/z.jpg': png, '.DS_Store': 'junk', 'a/.hidden/q.png': png,
  });
  try {
    const ds = openImageDataset(root);
    assert.equal(ds.kind, 'folder');
    assert.deepEqual(ds.entries.map((e) => [e.label, e.path]), [
      ['a', 'a/1.PNG'], ['a', 'a/z.jpg'], ['b/x', 'b/x/10.png'], ['b/x', 'b/x/2.png'],
    ]);
    assert.deepEqual(ds.ignored, ['.DS_Store', 'a/.hidden/']);
    assert.deepEqual(classCounts(ds.entries), [{ label: 'a', count: 2 }, { label: 'b/x', count: 2 }]);
    assert.deepEqual(Buffer.from(await ds.read(ds.entries[0])), png);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('folder: a non-image file fails with its path, or is skipped and reported with skipBad', async () => {
  const root = makeTree({ 'a/1.png': await greyPng(1), 'a/notes.txt': 'hello', 'b/2.png': await greyPng(2) });
  try {
    assert.throws(() => openImageDataset(root), (e: Error) => e instanceof BadImageError && e.message.includes(`${root}/a/notes.txt: not an image (expected .png, .jpg, .jpeg)`));
    const ds = openImageDataset(root, { skipBad: true });
    assert.equal(ds.entries.length, 2);
    assert.deepEqual(ds.skipped, [{ path: 'a/notes.txt', reason: 'not an image (expected .png, .jpg, .jpeg)' }]);
    assert.ok(listingWarnings(ds).some((w) => w.startsWith('skipped a/notes.txt')));
    // a class with one image is allowed, and reported
    assert.deepEqual(listingWarnings(ds)[0], '2 classes have a single image: a, b');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('folder: missing folder, empty folder, images outside class folders', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'protolens-empty-'));
  const flat = makeTree({ 'x.png': await greyPng(1) });
  try {
    assert.throws(() => openImageDataset(join(empty, 'nope')), /nope: no such folder or file \(expected a folder of class folders/);
    mkdirSync(join(empty, 'classA'));
    assert.throws(() => openImageDataset(empty), new RegExp(`${empty}: no images found`));
    // A folder of images alone is read unlabelled; images beside class folders are refused.
    const alone = openImageDataset(flat);
    assert.deepEqual([alone.labelled, alone.entries], [false, [{ path: 'x.png', label: '' }]]);
    mkdirSync(join(flat, 'cls'));
    writeFileSync(join(flat, 'cls', 'y.png'), await greyPng(2));
    assert.throws(() => openImageDataset(flat), /x\.png: image outside any class folder \(put each class in its own folder; a folder holding images alone is read unlabelled\)/);
    // …unless every image is read unlabelled, whatever folder holds it.
    const none = openImageDataset(flat, { labels: 'none' });
    assert.deepEqual([none.labelled, none.entries.map((e) => e.path)], [false, ['cls/y.png', 'x.png']]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
    rmSync(flat, { recursive: true, force: true });
  }
});

test('zip: read directly, single top folder stripped (Omniglot layout)', async () => {
  const a = await greyPng(1);
  const b = await greyPng(2);
  const zip = zipSync({
    'images_background/Greek/character03/0396_01.png': a,
    'images_background/Greek/character01/0394_01.png': b,
    'images_background/Latin/character01/x.png': b,
    '__MACOSX/images_background/._x.png': new Uint8Array(3),
  });
  const root = makeTree({ 'images_background.zip': zip });
  try {
    const ds = openImageDataset(join(root, 'images_background.zip'));
    assert.equal(ds.kind, 'zip');
    assert.deepEqual(ds.entries.map((e) => e.label), ['Greek/character01', 'Greek/character03', 'Latin/character01']);
    assert.deepEqual(Buffer.from(await ds.read(ds.entries[1])), a);
    assert.equal(ds.ignored.length, 1);
    writeFileSync(join(root, 'bad.zip'), 'not a zip');
    assert.throws(() => openImageDataset(join(root, 'bad.zip')), /bad\.zip: not a readable zip archive/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('list file: path,label lines relative to the list, header optional, order kept', async () => {
  const root = makeTree({ 'imgs/p.png': await greyPng(1), 'imgs/q.png': await greyPng(2) });
  try {
    writeFileSync(join(root, 'list.csv'), 'path,label\nimgs/q.png,dog\nimgs/p.png,"cat, tabby"\n');
    const ds = openImageDataset(join(root, 'list.csv'));
    assert.deepEqual(ds.entries, [{ path: 'imgs/q.png', label: 'dog' }, { path: 'imgs/p.png', label: 'cat, tabby' }]);
    assert.deepEqual(Buffer.from(await ds.read(ds.entries[1])), readFileSync(join(root, 'imgs/p.png')));
    writeFileSync(join(root, 'bad.txt'), 'imgs/p.png,a\nimgs/missing.png,b\n');
    assert.throws(() => openImageDataset(join(root, 'bad.txt')), /missing\.png: file not found \(listed at .*bad\.txt, line 2/);
    assert.equal(openImageDataset(join(root, 'bad.txt'), { skipBad: true }).skipped[0].reason, 'file not found');
    // A path alone on each line: an unlabelled list; the first line decides, a later line may not differ.
    writeFileSync(join(root, 'paths.txt'), 'path\nimgs/q.png\nimgs/p.png\n');
    const paths = openImageDataset(join(root, 'paths.txt'));
    assert.deepEqual([paths.labelled, paths.entries], [false, [{ path: 'imgs/q.png', label: '' }, { path: 'imgs/p.png', label: '' }]]);
    writeFileSync(join(root, 'mixed.txt'), 'imgs/p.png\nimgs/q.png,dog\n');
    assert.throws(() => openImageDataset(join(root, 'mixed.txt')), /mixed\.txt, line 2: expected a path alone, as on the first line, got "imgs\/q\.png,dog"/);
    writeFileSync(join(root, 'short.txt'), 'imgs/p.png,dog\nimgs/q.png\n');
    assert.throws(() => openImageDataset(join(root, 'short.txt')), /short\.txt, line 2: expected "path,label"/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('image files one by one: unlabelled, in the order given, relative to their deepest common folder', async () => {
  const root = makeTree({ 'shots/b.png': await greyPng(1), 'shots/day2/a.jpg': await greyPng(2), 'shots/notes.txt': 'x' });
  try {
    const ds = openImageFiles([join(root, 'shots/day2/a.jpg'), join(root, 'shots/b.png')]);
    assert.deepEqual([ds.kind, ds.labelled, ds.root], ['files', false, join(root, 'shots')]);
    assert.deepEqual(ds.entries, [{ path: 'day2/a.jpg', label: '' }, { path: 'b.png', label: '' }]);
    assert.deepEqual(Buffer.from(await ds.read(ds.entries[1])), readFileSync(join(root, 'shots/b.png')));
    // One file: its own folder is the root. A single image given alone is a file, not a dataset.
    assert.deepEqual(openImages([join(root, 'shots/b.png')]).entries, [{ path: 'b.png', label: '' }]);
    assert.throws(() => openImageFiles([join(root, 'shots/b.png'), join(root, 'shots/notes.txt')]),
      (e: Error) => e instanceof BadImageError && /notes\.txt: not an image/.test(e.message));
    assert.equal(openImageFiles([join(root, 'shots/b.png'), join(root, 'shots/notes.txt')], { skipBad: true }).skipped[0].path, 'notes.txt');
    assert.throws(() => openImageFiles([join(root, 'shots/nope.png')]), /nope\.png: no such file/);
    assert.throws(() => openImageFiles([join(root, 'shots/b.png'), join(root, 'shots/day2')]), /day2: a folder among image files/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const om = omniglotDir();
test('Omniglot development set: 4840 images, 242 classes of 20, labels Alphabet/characterNN', { skip: om.skip }, om.guard(() => {
  const ds = openImageDataset(om.path);
  const counts = classCounts(ds.entries);
  assert.equal(ds.entries.length, 4840);
  assert.equal(counts.length, 242);
  assert.ok(counts.every((c) => c.count === 20));
  assert.ok(counts.some((c) => c.label === 'Greek/character03'));
  assert.equal(ds.entries[0].path, 'Balinese/character01/0108_01.png');
  assert.deepEqual(ds.skipped, []);
}));
