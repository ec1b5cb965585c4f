import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import type { HttpRequest } from '../../../functions/shared/http';

/** An HTTP API (payload format 2.0) event as API Gateway delivers it: `rawPath` percent-decoded. */
export function v2Event(request: HttpRequest): APIGatewayProxyEventV2 {
  const [encodedPath = '/', rawQueryString = ''] = request.path.split('?');
  const rawPath = decodedOr(encodedPath);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: request.headers as Record<string, string>,
    body: request.body === undefined ? undefined : Buffer.from(request.body).toString('base64'),
    isBase64Encoded: request.body !== undefined,
    requestContext: {
      accountId: '111122223333',
      apiId: 'api',
      domainName: 'api.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'api',
      http: { method: request.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'request',
      routeKey: '$default',
      stage: '$default',
      time: '25/Nov/2026:22:00:00 +0000',
      timeEpoch: 0,
    },
  };
}

/** A REST API (payload format 1.0) proxy event: the path keeps the client's percent-encoding. */
export function v1Event(request: HttpRequest): APIGatewayProxyEvent {
  const { path } = request;
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: request.method,
    headers: request.headers as Record<string, string>,
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: request.body ?? null,
    isBase64Encoded: false,
    requestContext: { httpMethod: request.method, path, stage: 'v1', requestId: 'request', resourcePath: '/{proxy+}' } as APIGatewayProxyEvent['requestContext'],
  };
}

/** The path decoded; one that is not valid percent-encoding stays as sent. */
function decodedOr(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
