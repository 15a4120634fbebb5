/**
 * The MBR partition table of a disk image file (Raspberry Pi OS images use one: partition 1 is
 * the FAT boot partition, partition 2 the ext4 root). Read from the file's first sector, so the
 * image is never mounted and no root is needed.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { SwarmgateError } from '../../shared/kit/errors.js';

export const SECTOR_BYTES = 512;

export interface MbrPartition {
  /** 1..4, as `fdisk -l` numbers them. */
  readonly index: number;
  readonly type: number;
  readonly bootable: boolean;
  /** Byte offset of the partition in the image. */
  readonly offset: number;
  readonly bytes: number;
}

/** FAT12/16/32 partition types (CHS and LBA variants, hidden ones excluded) and the EFI system partition. */
const FAT_TYPES = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e, 0xef]);
const GPT_PROTECTIVE = 0xee;

function invalid(image: string, message: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_IMAGE_INVALID', `${image}: ${message}`);
}

/** The primary partitions of an MBR (first 512 bytes of the disk). Throws when it is not an MBR. */
export function parseMbr(sector: Uint8Array, image = 'image'): MbrPartition[] {
  if (sector.length < SECTOR_BYTES) throw invalid(image, `too short for a partition table (${sector.length} bytes)`);
  const view = new DataView(sector.buffer, sector.byteOffset, SECTOR_BYTES);
  if (view.getUint16(510, true) !== 0xaa55) throw invalid(image, 'no MBR partition table (the last two bytes of sector 0 are not 55 AA)');
  const partitions: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const at = 446 + i * 16;
    const status = view.getUint8(at);
    const type = view.getUint8(at + 4);
    const firstLba = view.getUint32(at + 8, true);
    const sectors = view.getUint32(at + 12, true);
    if (type === 0 || sectors === 0) continue;
    if (status !== 0x00 && status !== 0x80) throw invalid(image, `partition ${i + 1} has an invalid status byte 0x${status.toString(16)}`);
    partitions.push({ index: i + 1, type, bootable: status === 0x80, offset: firstLba * SECTOR_BYTES, bytes: sectors * SECTOR_BYTES });
  }
  return partitions;
}

/** The first FAT partition of an image file: the boot partition of a Raspberry Pi OS image. */
export function findBootPartition(image: string, imageBytes: number): MbrPartition {
  const sector = new Uint8Array(SECTOR_BYTES);
  const fd = openSync(image, 'r');
  try {
    const read = readSync(fd, sector, 0, SECTOR_BYTES, 0);
    if (read < SECTOR_BYTES) throw invalid(image, `too short for a partition table (${read} bytes)`);
  } finally {
    closeSync(fd);
  }
  const partitions = parseMbr(sector, image);
  if (partitions.some((p) => p.type === GPT_PROTECTIVE)) throw invalid(image, 'has a GPT partition table; Raspberry Pi OS images use MBR');
  const fat = partitions.find((p) => FAT_TYPES.has(p.type));
  if (!fat) {
    const types = partitions.map((p) => `${p.index}: 0x${p.type.toString(16).padStart(2, '0')}`).join(', ');
    throw invalid(image, `no FAT partition in its partition table (${types || 'no partitions'})`);
  }
  if (fat.offset + fat.bytes > imageBytes) {
    throw invalid(image, `partition ${fat.index} ends at byte ${fat.offset + fat.bytes}, past the end of the file (${imageBytes} bytes): is the image complete, and unpacked (.img, not .img.xz)?`);
  }
  return fat;
}

/** An MBR with the given partitions (LBA addressing, CHS fields set to the "use LBA" marker); for tests and tools. */
export function buildMbr(partitions: readonly { readonly type: number; readonly firstLba: number; readonly sectors: number; readonly bootable?: boolean }[]): Uint8Array {
  if (partitions.length > 4) throw new Error('an MBR holds at most 4 primary partitions');
  const sector = new Uint8Array(SECTOR_BYTES);
  const view = new DataView(sector.buffer);
  view.setUint32(440, 0x5357_4731, true); // disk signature
  partitions.forEach((p, i) => {
    const at = 446 + i * 16;
    view.setUint8(at, p.bootable ? 0x80 : 0x00);
    for (const chs of [at + 1, at + 5]) {
      view.setUint8(chs, 0xfe);
      view.setUint8(chs + 1, 0xff);
      view.setUint8(chs + 2, 0xff);
    }
    view.setUint8(at + 4, p.type);
    view.setUint32(at + 8, p.firstLba, true);
    view.setUint32(at + 12, p.sectors, true);
  });
  view.setUint16(510, 0xaa55, true);
  return sector;
}
