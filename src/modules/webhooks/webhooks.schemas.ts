import { type Static, Type } from '@sinclair/typebox';

export const EVENTS = [
  'phone_recharge.completed',
  'phone_recharge.failed',
  'phone_recharge.reversed',
] as const;
export const MAX_ENDPOINTS_PER_CLIENT = 10;
/** How many secrets rotated out may sign at once beside the current one: it bounds every message's header. */
export const MAX_PREVIOUS_SECRETS = 9;
export const DEFAULT_PAGE_SIZE = 100;

const EventsSchema = Type.Array(Type.Union(EVENTS.map((event) => Type.Literal(event))), {
  minItems: 1,
  uniqueItems: true,
  description: 'The events to receive; default: all three',
});
const UrlSchema = Type.String({
  minLength: 8,
  maxLength: 2048,
  pattern: '^https?://[^\\s]+$',
  description: 'https in production; its host must resolve to public addresses only',
  examples: ['https://hooks.example.com/recharges'],
});

export const WebhookEndpointInputSchema = Type.Object(
  { url: UrlSchema, events: Type.Optional(EventsSchema) },
  {
    $id: 'WebhookEndpointInput',
    additionalProperties: false,
    examples: [
      {
        url: 'https://hooks.example.com/recharges',
        events: ['phone_recharge.completed', 'phone_recharge.failed'],
      },
    ],
  },
);
export type WebhookEndpointInput = Static<typeof WebhookEndpointInputSchema>;

export const WebhookEndpointReplaceSchema = Type.Object(
  {
    url: UrlSchema,
    events: EventsSchema,
    rotate_secret: Type.Optional(
      Type.Boolean({ description: 'A new secret; the old one keeps signing beside it for 24 hours' }),
    ),
  },
  {
    $id: 'WebhookEndpointReplace',
    additionalProperties: false,
    examples: [
      {
        url: 'https://hooks.example.com/recharges',
        events: ['phone_recharge.completed', 'phone_recharge.failed', 'phone_recharge.reversed'],
        rotate_secret: true,
      },
    ],
  },
);
export type WebhookEndpointReplace = Static<typeof WebhookEndpointReplaceSchema>;

const endpointProperties = {
  id: Type.String({ examples: ['ep_5f0c6f0a8a4e7c1d9b2f3e5a'] }),
  url: Type.String(),
  events: Type.Array(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')], {
    description: 'disabled after a receiver answered 410; a PUT makes it active again',
  }),
  created_at: Type.String({ format: 'date-time' }),
};

export const WebhookEndpointSchema = Type.Object(endpointProperties, {
  $id: 'WebhookEndpoint',
  additionalProperties: false,
});
export type WebhookEndpoint = Static<typeof WebhookEndpointSchema>;

export const WebhookEndpointWithSecretSchema = Type.Object(
  {
    ...endpointProperties,
    secret: Type.String({
      description: 'whsec_ and base64: shown only here',
      examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    }),
  },
  { $id: 'WebhookEndpointWithSecret', additionalProperties: false },
);

export const WebhookMessageSchema = Type.Object(
  {
    id: Type.String({ description: 'The webhook-id it is sent with, the same on every attempt' }),
    endpoint_id: Type.String(),
    type: Type.String({ examples: ['phone_recharge.completed'] }),
    recharge_id: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
    attempts: Type.Integer(),
    last_response_status: Type.Union([Type.Integer(), Type.Null()], {
      description: "The receiver's last HTTP status; null: no answer yet, or none within the timeout",
    }),
    next_attempt_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'WebhookMessage', additionalProperties: false },
);
export type WebhookMessage = Static<typeof WebhookMessageSchema>;

const EndpointId = Type.String({ pattern: '^ep_[0-9a-f]{24}$', description: 'From POST /WebhookEndpoints' });

export const EndpointIdQuerySchema = Type.Object({ id: EndpointId }, { additionalProperties: false });

export const MessageIdQuerySchema = Type.Object(
  { id: Type.String({ pattern: '^msg_[0-9a-f]{32}$', description: 'From GET /WebhookDeliveries' }) },
  { additionalProperties: false },
);

export const DeliveriesQuerySchema = Type.Object(
  {
    endpoint_id: Type.Optional(EndpointId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: DEFAULT_PAGE_SIZE })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'From the Link rel="next"' })),
  },
  { additionalProperties: false },
);
