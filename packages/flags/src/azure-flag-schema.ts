/**
 * Microsoft's feature flag schema, v2 (FeatureManagement.v2.0.0.schema.json, the `feature_flags`
 * item): written out here from the published schema's rules, because no package ships it as a
 * JSON Schema. It is what Azure App Configuration stores under `.appconfig.featureflag/{id}` and
 * what @microsoft/feature-management reads. Unknown members are allowed, as Microsoft's readers
 * ignore them.
 */
export const azureFlagSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://herald.dev/schemas/azure-feature-flag.v2.json',
  title: 'Azure App Configuration feature flag (Microsoft feature management schema v2)',
  type: 'object',
  required: ['id'],
  properties: {
    id: {
      type: 'string',
      minLength: 1,
      pattern: '^[^:\\n\\r%]*$',
      description: 'The feature flag name; ":", "%" and line breaks are not allowed.',
    },
    description: { type: 'string' },
    display_name: { type: 'string' },
    enabled: { type: 'boolean', default: false },
    conditions: {
      type: ['object', 'null'],
      properties: {
        requirement_type: { type: 'string', enum: ['Any', 'All'] },
        client_filters: {
          type: ['array', 'null'],
          items: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string', minLength: 1 },
              parameters: { type: 'object' },
            },
          },
        },
      },
    },
    variants: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 },
          configuration_value: true,
          status_override: { type: 'string', enum: ['None', 'Enabled', 'Disabled'] },
        },
      },
    },
    allocation: {
      type: 'object',
      properties: {
        default_when_disabled: { type: 'string' },
        default_when_enabled: { type: 'string' },
        user: {
          type: 'array',
          items: {
            type: 'object',
            required: ['variant', 'users'],
            properties: { variant: { type: 'string' }, users: { type: 'array', items: { type: 'string' } } },
          },
        },
        group: {
          type: 'array',
          items: {
            type: 'object',
            required: ['variant', 'groups'],
            properties: { variant: { type: 'string' }, groups: { type: 'array', items: { type: 'string' } } },
          },
        },
        percentile: {
          type: 'array',
          items: {
            type: 'object',
            required: ['variant', 'from', 'to'],
            properties: {
              variant: { type: 'string' },
              from: { type: 'number', minimum: 0, maximum: 100 },
              to: { type: 'number', minimum: 0, maximum: 100 },
            },
          },
        },
        seed: { type: 'string' },
      },
    },
    telemetry: {
      type: 'object',
      properties: {
        enabled: { type: 'boolean' },
        metadata: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
  },
} as const;
