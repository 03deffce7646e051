/** Who is asking: a logged-in user, or an API key (which acts as an admin with no attributes). */
export interface Principal {
  readonly kind: 'user' | 'api-key'
  readonly userId?: number
  readonly apiKeyId?: number
  readonly isAdmin: boolean
  readonly email?: string
  readonly attributes: Readonly<Record<string, string>>
}

export interface UserRow {
  id: number
  email: string
  first_name: string | null
  last_name: string | null
  password_hash: string | null
  is_superuser: boolean
  is_active: boolean
  login_attributes: Record<string, string>
  sso_source: string | null
  date_joined: Date
  last_login: Date | null
}

/** The user as the API returns it: no password hash, ever. */
export function publicUser(u: UserRow): Record<string, unknown> {
  return {
    id: u.id,
    email: u.email,
    first_name: u.first_name,
    last_name: u.last_name,
    common_name: [u.first_name, u.last_name].filter(Boolean).join(' '),
    is_superuser: u.is_superuser,
    is_active: u.is_active,
    login_attributes: u.login_attributes ?? {},
    sso_source: u.sso_source,
    date_joined: u.date_joined,
    last_login: u.last_login,
  }
}

export function principalOf(u: UserRow): Principal {
  let p = principals.get(u)
  if (p === undefined) {
    p = Object.freeze({ kind: 'user', userId: u.id, isAdmin: u.is_superuser, email: u.email, attributes: Object.freeze({ ...(u.login_attributes ?? {}) }) })
    principals.set(u, p)
  }
  return p
}

/** The metadata cache hands out the same row object for its TTL; a changed user is a new row. */
const principals = new WeakMap<UserRow, Principal>()
