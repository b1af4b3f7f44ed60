// Fashion-MNIST (Zalando Research, MIT licence): 60,000 training and 10,000 test 28×28 grey images
// of clothing in 10 classes, in the MNIST file layout.
//
// Looked up in order: the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist,
// four .gz files), the cache, then the mirrors. Every file is verified against a SHA-256 pin.
//
// Pins. `sha256`/`size` are those of the upstream .gz files (the ones the mirrors serve; the same
// values are published by torchvision and TensorFlow Datasets). Debian's copies are not
// byte-identical: its packaging strips the file name from the gzip header and resets the header
// time, so each is 23-24 bytes shorter; we pin those as alternates, computed from
// dataset-fashion-mnist 0.0~git20200523.55506a9-1. Their decompressed bytes match the upstream
// decompressed SHA-256s, which are pinned too so that unzipped copies are accepted as well.

import type { TrainTest } from './types.js';
import { loadPinnedSet, type LoadPinnedOptions, type PinnedSet } from './mnist.js';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Where the Debian package dataset-fashion-mnist installs the files. */
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST: PinnedSet = {
  title: 'Fashion-MNIST',
  trainImages: {
    name: 'train-images-idx3-ubyte.gz',
    size: 26_421_880,
    sha256: '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84',
    alternates: [
      { what: 'Debian gzip', size: 26_421_856, sha256: 'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7' },
      { what: 'uncompressed', size: 47_040_016, sha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888' },
    ],
  },
  trainLabels: {
    name: 'train-labels-idx1-ubyte.gz',
    size: 29_515,
    sha256: 'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845',
    alternates: [
      { what: 'Debian gzip', size: 29_491, sha256: '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056' },
      { what: 'uncompressed', size: 60_008, sha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9' },
    ],
  },
  testImages: {
    name: 't10k-images-idx3-ubyte.gz',
    size: 4_422_102,
    sha256: '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073',
    alternates: [
      { what: 'Debian gzip', size: 4_422_079, sha256: 'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa' },
      { what: 'uncompressed', size: 7_840_016, sha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b' },
    ],
  },
  testLabels: {
    name: 't10k-labels-idx1-ubyte.gz',
    size: 5_148,
    sha256: '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5',
    alternates: [
      { what: 'Debian gzip', size: 5_125, sha256: '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05' },
      { what: 'uncompressed', size: 10_008, sha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34' },
    ],
  },
  classes: FASHION_MNIST_CLASSES,
  mirrors: [
    // Zalando's S3 bucket through its TLS REST endpoint (the s3-website endpoint is http-only).
    'https://fashion-mnist.s3.eu-central-1.amazonaws.com/',
    'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/',
  ],
};

/**
 * Full Fashion-MNIST. `systemDirs` defaults to the Debian package's directory; pass [] to skip it.
 */
export function loadFashionMnist(opts: LoadPinnedOptions = {}): Promise<TrainTest> {
  return loadPinnedSet(FASHION_MNIST, { ...opts, systemDirs: opts.systemDirs ?? [FASHION_MNIST_SYSTEM_DIR] });
}
