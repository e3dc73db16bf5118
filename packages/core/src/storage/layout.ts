import { join, resolve } from 'node:path';
import { BatchId, FileId } from '../contracts/common.js';

/**
 * Where Sluice keeps bytes on disk, under one data directory shared by the roles of a
 * deployment (ingest writes inputs and serves outputs; the sink writes outputs):
 *
 *   batches/<batch id>/input.jsonl        the validated input, one item per line (ingest)
 *   batches/<batch id>/ingest.json        ingest's progress marker: producing | produced (ingest)
 *   batches/<batch id>/spec.json          the batch's spec from its seal (sink)
 *   batches/<batch id>/results.log        results in arrival order, one JSON line each (sink)
 *   batches/<batch id>/results.idx        24 bytes per item index → its line in results.log (sink)
 *   batches/<batch id>/final.json         written once the batch is finalized (sink)
 *   batches/<batch id>/output.jsonl       every line in input order, final (sink)
 *   batches/<batch id>/output.idx         8 bytes per output line: its byte offset (sink)
 *   batches/<batch id>/output.csv         operations jobs with known result columns: the CSV export (sink)
 *   batches/<batch id>/succeeded.jsonl    OpenAI batches: the successful lines (sink)
 *   batches/<batch id>/errors.jsonl       the failed lines (sink)
 *   files/<file id>.json                  File object metadata (ingest, sink)
 *   files/<file id>.jsonl                 uploaded file content (ingest)
 */
export class DataLayout {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  batchDir(batchId: string): string {
    // Batch ids come from messages too; the schema keeps them to a safe alphabet.
    return join(this.root, 'batches', BatchId.parse(batchId));
  }

  input(batchId: string): string {
    return join(this.batchDir(batchId), 'input.jsonl');
  }
  ingestMarker(batchId: string): string {
    return join(this.batchDir(batchId), 'ingest.json');
  }
  spec(batchId: string): string {
    return join(this.batchDir(batchId), 'spec.json');
  }
  resultsLog(batchId: string): string {
    return join(this.batchDir(batchId), 'results.log');
  }
  resultsIndex(batchId: string): string {
    return join(this.batchDir(batchId), 'results.idx');
  }
  finalMarker(batchId: string): string {
    return join(this.batchDir(batchId), 'final.json');
  }
  output(batchId: string): string {
    return join(this.batchDir(batchId), 'output.jsonl');
  }
  outputCsv(batchId: string): string {
    return join(this.batchDir(batchId), 'output.csv');
  }
  outputIndex(batchId: string): string {
    return join(this.batchDir(batchId), 'output.idx');
  }
  succeeded(batchId: string): string {
    return join(this.batchDir(batchId), 'succeeded.jsonl');
  }
  errors(batchId: string): string {
    return join(this.batchDir(batchId), 'errors.jsonl');
  }

  get filesDir(): string {
    return join(this.root, 'files');
  }
  fileMeta(fileId: string): string {
    return join(this.filesDir, `${FileId.parse(fileId)}.json`);
  }
  fileContent(fileId: string): string {
    return join(this.filesDir, `${FileId.parse(fileId)}.jsonl`);
  }
}
