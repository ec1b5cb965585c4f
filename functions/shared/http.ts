import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult } from 'aws-lambda';
import { isAppError } from './errors';

/** The transport-neutral request every HTTP edge (API Gateway v1/v2, the local server) is turned into. */
export interface HttpRequest {
  method: string;
  /** Raw path, still percent-encoded. */
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
  body: string | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** Maps any thrown value to a JSON error response; unknown errors never leak their message. */
export function errorResponse(error: unknown): HttpResponse {
  if (isAppError(error)) {
    const headers: Record<string, string> = {};
    const allowed = error.details?.allowed;
    if (Array.isArray(allowed)) headers.allow = allowed.join(', ');
    return json(error.status, { error: error.code, message: error.message }, headers);
  }
  return json(500, { error: 'InternalError', message: 'internal error' });
}

function lowerCaseHeaders(headers: Record<string, string | undefined> | null | undefined): Record<string, string | undefined> {
  const result: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) result[name.toLowerCase()] = value;
  return result;
}

function decodeBody(body: string | null | undefined, isBase64Encoded: boolean): string | undefined {
  if (body === null || body === undefined) return undefined;
  return isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
}

/** Accepts both HTTP API (payload 2.0) and REST API (payload 1.0) proxy events. */
export function fromApiGatewayEvent(event: ApiGatewayEvent): HttpRequest {
  if ('requestContext' in event && 'http' in event.requestContext) {
    const v2 = event as APIGatewayProxyEventV2;
    return {
      method: v2.requestContext.http.method,
      // HTTP APIs hand over rawPath already percent-decoded: encoded again so both event kinds reach the router alike.
      path: v2.rawPath.split('/').map(encodeURIComponent).join('/'),
      headers: lowerCaseHeaders(v2.headers),
      body: decodeBody(v2.body, v2.isBase64Encoded),
    };
  }
  const v1 = event as APIGatewayProxyEvent;
  return {
    method: v1.httpMethod,
    // REST APIs (the private endpoint) keep the client's percent-encoding.
    path: v1.path,
    headers: lowerCaseHeaders(v1.headers),
    body: decodeBody(v1.body, v1.isBase64Encoded),
  };
}

export function toApiGatewayResult(response: HttpResponse): APIGatewayProxyResult {
  return { statusCode: response.status, headers: response.headers, body: response.body };
}

export type ApiGatewayEvent = APIGatewayProxyEventV2 | APIGatewayProxyEvent;

/** A Lambda handler for API Gateway proxy events around a transport-neutral HTTP handler. */
export function apiGatewayHandler(handle: (request: HttpRequest) => Promise<HttpResponse>) {
  return async (event: ApiGatewayEvent): Promise<APIGatewayProxyResult> => toApiGatewayResult(await handle(fromApiGatewayEvent(event)));
}
