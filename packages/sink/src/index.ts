export { createSink, type Sink, type SinkOptions } from './sink.js';
