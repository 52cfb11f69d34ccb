/**
 * Class names and colours of the datasets the released segmentation heads were trained on.
 * - ADE20K (SceneParse150): 150 classes in the order of `objectInfo150` (class 0 = wall; the dataset's
 *   "other" label 0 is dropped by `reduce_zero_label`, so head output c is ADE class c + 1). Colours are the
 *   palette mmseg's ADE20KDataset uses (= `ADE20K_COLORMAP[1:]` in the official dinov2 repo); names are the
 *   first name of each entry.
 * - Pascal VOC 2012: 21 classes, 0 = background; colours from VOC's bit-interleaving colour map.
 * The official segmentation notebook indexes both colour maps with `label + 1`; for VOC, whose label 0 is
 * background, that shifts every colour by one class and runs past the end for label 20, so VOC colours here
 * follow the dataset's own convention (label c → colour c).
 */

export interface SegmentationDataset {
  name: string;
  classes: readonly string[];
  /** RGB triples, one per class. */
  palette: Uint8Array;
}

const ADE20K_PALETTE_HEX =
  '787878b4787806e6e650323204c8037878508c8c8ccc05ffe6e6e604fa07e005ffebff0796053d78784608ff33ff0652' +
  '8fff8cccff04ff3307cc46030066c83de6faff06330b66ffff0747ff09e00907e6dcdcdcff095c7009ff08ffd607ffe0' +
  'ffb8060aff47ff290a07ffffe0ff086608ffff3d06ffc207ff7a0800ff14ff0829ff05990633ffeb0cffa0961400a3ff' +
  '8c8c8cfa0a0f14ff001fff00ff1f00ffe00099ff000000ffff470000ebff00adff1f00ff0bc8c8ff520000fff5003dff' +
  '00ff7000ff85ff0000ffa300ff6600c2ff00008fff33ff000052ff00ff2900ffad0a00ffadff0000ff99ff5c00ff00ff' +
  'ff00f5ff0066ffad00ff0014ffb8b8001fff00ff3d0047ffff00cc00ffc200ff52000aff0070ff3300ff00c2ff007aff' +
  '00ffa3ff990000ff0aff70008fff005200ffa3ff00ffeb0008b8aa8500ff00ff5cb800ffff001f00b8ff00d6ffff0070' +
  '5cff0000e0ff70e0ff46b8a0a300ff9900ff47ff00ff00a3ffcc00ff008f00ffeb85ff00ff00ebf500ffff007afff500' +
  '0abed4d6ff0000ccff1400ffffff000099ff0029ff00ffcc2900ff29ff00ad00ff00f5ff4700ff7a00ff00ffb8005cff' +
  'b8ff000085ffffd60019c2c266ff005c00ff';

const ADE20K_CLASSES = [
  'wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road', 'bed', 'windowpane', 'grass', 'cabinet', 'sidewalk',
  'person', 'earth', 'door', 'table', 'mountain', 'plant', 'curtain', 'chair', 'car', 'water', 'painting', 'sofa',
  'shelf', 'house', 'sea', 'mirror', 'rug', 'field', 'armchair', 'seat', 'fence', 'desk', 'rock', 'wardrobe', 'lamp',
  'bathtub', 'railing', 'cushion', 'base', 'box', 'column', 'signboard', 'chest of drawers', 'counter', 'sand', 'sink',
  'skyscraper', 'fireplace', 'refrigerator', 'grandstand', 'path', 'stairs', 'runway', 'case', 'pool table', 'pillow',
  'screen door', 'stairway', 'river', 'bridge', 'bookcase', 'blind', 'coffee table', 'toilet', 'flower', 'book', 'hill',
  'bench', 'countertop', 'stove', 'palm', 'kitchen island', 'computer', 'swivel chair', 'boat', 'bar', 'arcade machine',
  'hovel', 'bus', 'towel', 'light', 'truck', 'tower', 'chandelier', 'awning', 'streetlight', 'booth',
  'television receiver', 'airplane', 'dirt track', 'apparel', 'pole', 'land', 'bannister', 'escalator', 'ottoman',
  'bottle', 'buffet', 'poster', 'stage', 'van', 'ship', 'fountain', 'conveyer belt', 'canopy', 'washer', 'plaything',
  'swimming pool', 'stool', 'barrel', 'basket', 'waterfall', 'tent', 'bag', 'minibike', 'cradle', 'oven', 'ball',
  'food', 'step', 'tank', 'trade name', 'microwave', 'pot', 'animal', 'bicycle', 'lake', 'dishwasher', 'screen',
  'blanket', 'sculpture', 'hood', 'sconce', 'vase', 'traffic light', 'tray', 'ashcan', 'fan', 'pier', 'crt screen',
  'plate', 'monitor', 'bulletin board', 'shower', 'radiator', 'glass', 'clock', 'flag',
] as const;

const VOC_CLASSES = [
  'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable',
  'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
] as const;

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from({ length: hex.length / 2 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/**
 * The VOC colour map: the bits of the label, read three at a time from the lowest, fill R, G and B from their
 * most significant bit down (label 1 → (128, 0, 0), 2 → (0, 128, 0), 3 → (128, 128, 0), …). Defined for any
 * number of labels up to 256, so it also colours datasets of one's own.
 */
export function vocPalette(n: number): Uint8Array {
  const out = new Uint8Array(3 * n);
  for (let label = 0; label < n; label++) {
    let c = label;
    const rgb = [0, 0, 0];
    for (let bit = 7; bit >= 0 && c > 0; bit--, c >>= 3) {
      for (let ch = 0; ch < 3; ch++) rgb[ch]! |= ((c >> ch) & 1) << bit;
    }
    out.set(rgb, 3 * label);
  }
  return out;
}

export const ADE20K: SegmentationDataset = { name: 'ade20k', classes: ADE20K_CLASSES, palette: fromHex(ADE20K_PALETTE_HEX) };
export const VOC2012: SegmentationDataset = { name: 'voc2012', classes: VOC_CLASSES, palette: vocPalette(21) };

/** A dataset description for `numClasses` classes: named ones when given, else `class <i>` with VOC colours. */
export function datasetFor(numClasses: number, names?: readonly string[]): SegmentationDataset {
  if (names && names.length === numClasses) return { name: 'custom', classes: names, palette: vocPalette(numClasses) };
  if (numClasses === ADE20K.classes.length) return ADE20K;
  if (numClasses === VOC2012.classes.length) return VOC2012;
  return { name: 'custom', classes: Array.from({ length: numClasses }, (_, i) => `class ${i}`), palette: vocPalette(numClasses) };
}
