/** HTTP proxy clients for the server suites: raw requests on a Collector, whole responses read by their
 * Content-Length, and scripted origins (rogue peers) that answer fixed bytes. */

import type { Decoded } from '../../lib/codec/decoded.ts';
import { decodeHttpHead, decodeHttpResponseHead, headerValues } from '../../lib/codec/http-head.ts';
import type { Collector, RoguePeer } from './net.ts';

/** A response head and its Content-Length body, as one message (a decoder for Collector.read). */
export function httpResponse(buf: Uint8Array, offset = 0): Decoded<{ status: number; text: string }> {
  const head = decodeHttpResponseHead(buf, offset);
  if (!head.done) return head;
  const length = Number(headerValues(head.value.headers, 'content-length')[0] ?? 0);
  const total = head.length + length;
  if (buf.length - offset < total) return { done: false, need: total - (buf.length - offset) };
  return { done: true, value: { status: head.value.status, text: Buffer.from(buf.subarray(offset, offset + total)).toString('latin1') }, length: total };
}

/** The next whole response, as text. */
export async function readResponse(c: Collector): Promise<string> {
  return (await c.read(httpResponse)).value.text;
}

/** What our own error responses look like, byte for byte. */
export function errorResponse(status: string, text: string, extra = ''): string {
  const body = `socx: ${text}\n`;
  return `HTTP/1.1 ${status}\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}

/** An origin script: waits for one request head (and `bodyBytes` after it), then writes `reply` and, with
 * `close`, closes. */
export function answerWith(reply: string, options: { close?: boolean; bodyBytes?: number } = {}): (peer: RoguePeer) => Promise<void> {
  return async (peer) => {
    await peer.input.read((buf, offset = 0) => {
      const head = decodeHttpHead(buf, offset);
      if (!head.done) return head;
      const total = head.length + (options.bodyBytes ?? 0);
      return buf.length - offset >= total ? { done: true, value: undefined, length: total } : { done: false, need: total - (buf.length - offset) };
    });
    peer.socket.write(Buffer.from(reply, 'latin1'));
    if (options.close) peer.socket.end();
  };
}
