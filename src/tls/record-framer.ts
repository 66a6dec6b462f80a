/**
 * Splits one direction's bytes into TLS records (RFC 8446 §5.1 header: type, version, length),
 * keeping whole only the records a caller asks for; the rest are counted and skipped. Framing
 * only: the record parser validates, the decryptors open what they keep.
 */
export const RECORD_HEADER_LENGTH = 5;

export interface FramedRecord {
  type: number;
  /** Body length from the header. */
  length: number;
  /** Header and body, when kept. */
  record: Buffer | null;
}

export class RecordFramer {
  private readonly header = Buffer.alloc(RECORD_HEADER_LENGTH);
  private headerFill = 0;
  private type = 0;
  private length = 0;
  private body: Buffer | null = null;
  private fill = 0;
  private remaining = 0;

  /** `keep(type, length)` decides, per record header, whether the whole record is collected. */
  constructor(private readonly keep: (type: number, length: number) => boolean) {}

  /** Bytes held for the record being read. */
  get buffered(): number {
    return this.headerFill + (this.body === null ? 0 : this.fill);
  }

  reset(): void {
    this.headerFill = 0;
    this.body = null;
    this.fill = 0;
    this.remaining = 0;
  }

  /** The records these bytes complete, in order. */
  push(chunk: Uint8Array): FramedRecord[] {
    const out: FramedRecord[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.headerFill < RECORD_HEADER_LENGTH) {
        const take = Math.min(RECORD_HEADER_LENGTH - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + take), this.headerFill);
        this.headerFill += take;
        i += take;
        if (this.headerFill < RECORD_HEADER_LENGTH) break;
        this.type = this.header[0]!;
        this.length = this.header.readUInt16BE(3);
        this.remaining = this.length;
        this.body = null;
        this.fill = 0;
        if (this.keep(this.type, this.length)) {
          this.body = Buffer.alloc(RECORD_HEADER_LENGTH + this.length);
          this.header.copy(this.body);
          this.fill = RECORD_HEADER_LENGTH;
        }
      } else {
        const take = Math.min(this.remaining, chunk.length - i);
        this.body?.set(chunk.subarray(i, i + take), this.fill);
        this.fill += take;
        this.remaining -= take;
        i += take;
      }
      if (this.remaining === 0) {
        out.push({ type: this.type, length: this.length, record: this.body });
        this.reset();
      }
    }
    return out;
  }
}
