export { createSink, type Sink, type SinkOptions } from './sink.js';
export { batchEvent, createWebhookNotifier, signWebhook, type BatchEvent, type WebhookOptions } from './webhooks.js';
