/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** What a scan at the door found. */
export type CheckInStatus =
  /** Welcome in: this scan checked the ticket in. */
  | 'ADMITTED'
  /** The ticket was checked in before (`checkedInAt` is the first time). */
  | 'ALREADY_CHECKED_IN'
  /** Not a code this server signed, or no such ticket. */
  | 'INVALID'
  /** The ticket's reservation is not paid. */
  | 'NOT_VALID_YET'
  /** The code was replaced (a transfer) or the ticket cancelled or refunded. */
  | 'REVOKED'
  /** A valid ticket, for another event. */
  | 'WRONG_EVENT';

/** Narrows `events`. All given conditions must hold. */
export type EventFilter = {
  /** Only events in at least one of these categories (case-insensitive). */
  categories?: Array<string> | null | undefined;
  /** Only events with a ticket type priced at most this (within `minPriceCents` too). */
  maxPriceCents?: number | null | undefined;
  /** Only events with a ticket type priced at least this (within `maxPriceCents` too). */
  minPriceCents?: number | null | undefined;
  /** Only events with at least one seat available. */
  onlyAvailable?: boolean | null | undefined;
  /** Only events of this organizer. */
  organizerId?: string | number | null | undefined;
  /**
   * Full-text search of the title, description and venue: every word (letters and digits)
   * must match the start of a word; at most 10 words, 100 characters.
   */
  search?: string | null | undefined;
  /** Only events starting at or after this time. */
  startsAfter?: string | null | undefined;
  /** Only events starting before this time. */
  startsBefore?: string | null | undefined;
  /** Case-insensitive keyword found in the name of one of the event's ticket types. */
  ticketTypeName?: string | null | undefined;
  /** Case-insensitive keyword found in the venue. */
  venue?: string | null | undefined;
};

/** Where an event is in its lifecycle. */
export type EventStatus =
  /** Called off; no longer listed or reservable. */
  | 'CANCELLED'
  /** Being prepared; visible only to its organizer and admins. */
  | 'DRAFT'
  /** Public and open for reservations. */
  | 'PUBLISHED';

/** How a reservation is paid. */
export type PaymentMethod =
  /**
   * With a card through the card gateway (sandbox test tokens: tok_visa, tok_chargeDeclined,
   * tok_processingError, tok_timeout).
   */
  | 'CARD'
  /** From the buyer's wallet balance. */
  | 'WALLET';

/** What a user may do. */
export type Role =
  /** Manages everything; created only from the command line. */
  | 'ADMIN'
  /** Creates and publishes events and watches their transactions. */
  | 'ORGANIZER'
  /** An attendee: browses events, reserves and pays. */
  | 'USER';

/** Whether a seat can be bought. */
export type SeatStatus =
  /** Free to hold. */
  | 'AVAILABLE'
  /** Taken off sale by the organizer. */
  | 'BLOCKED'
  /** Held by a reservation awaiting payment. */
  | 'HELD'
  /** Bought. */
  | 'SOLD';

/** Whether a ticket admits its holder. */
export type TicketStatus =
  /** Admits its holder. */
  | 'VALID'
  /** Its reservation was cancelled. */
  | 'VOID';

/** What a transaction did. */
export type TransactionKind =
  /** An admin's credit or debit of a wallet (`adjustWallet`); a debit's amount is negative. */
  | 'ADJUSTMENT'
  /** Payment for a reservation. */
  | 'PAYMENT'
  /** Money returned to a wallet for a cancelled reservation. */
  | 'REFUND'
  /** Money added to a wallet. */
  | 'TOP_UP';

/** Whether a transaction went through. */
export type TransactionStatus =
  /** Nothing moved; `failureReason` says why. */
  | 'FAILED'
  /** Money moved. */
  | 'SUCCEEDED';

/** Where a waitlist entry is in its life. */
export type WaitlistStatus =
  /** The offer lapsed unpaid (its seats went to the next in line), or the event was cancelled. */
  | 'EXPIRED'
  /** The offer was paid. */
  | 'FULFILLED'
  /** Its owner left the queue or declined the offer. */
  | 'LEFT'
  /** Seats are held for the entry (`offer`) until `offerExpiresAt`: pay the offer to keep them. */
  | 'OFFERED'
  /** In the queue; `position` says where. */
  | 'WAITING';

export type DashboardSalesHistoryQueryVariables = Exact<{
  eventId: string | number;
}>;


export type DashboardSalesHistoryQuery = { analytics: { ticketsSold: number, revenueCents: number, salesOverTime: Array<{ start: string, ticketsSold: number, revenueCents: number }> }, eventReport: { ticketsSold: number, revenueCents: number } };

export type DashboardLoginMutationVariables = Exact<{
  username: string;
  password: string;
}>;


export type DashboardLoginMutation = { login: { accessToken: string, refreshToken: string, expiresAt: string, user: { id: string, username: string, role: Role } } };

export type DashboardRefreshMutationVariables = Exact<{
  refreshToken: string;
}>;


export type DashboardRefreshMutation = { refreshToken: { accessToken: string, refreshToken: string, expiresAt: string, user: { id: string, username: string, role: Role } } };

export type DashboardLogoutMutationVariables = Exact<{
  refreshToken: string;
}>;


export type DashboardLogoutMutation = { logout: boolean };

export type SessionFragment = { accessToken: string, refreshToken: string, expiresAt: string, user: { id: string, username: string, role: Role } };

export type DashboardEventsQueryVariables = Exact<{
  filter?: EventFilter | null | undefined;
  after?: string | null | undefined;
}>;


export type DashboardEventsQuery = { events: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { id: string, title: string, status: EventStatus, startsAt: string, venue: string | null, capacity: number } }> } };

export type DashboardEventQueryVariables = Exact<{
  id: string | number;
}>;


export type DashboardEventQuery = { event: { id: string, title: string, status: EventStatus, startsAt: string, venue: string | null, capacity: number, ticketTypes: Array<{ id: string, name: string, priceCents: number, capacity: number, available: number }>, seatMap: { sections: Array<{ name: string, rows: Array<{ label: string, seats: Array<{ id: string, label: string, status: SeatStatus }> }> }> } | null } | null, eventReport: { ticketsSold: number, ticketsHeld: number, ticketsAvailable: number, capacity: number, revenueCents: number, refundedCents: number, occupancy: number, failedPayments: number, checkedIn: number } };

export type DashboardReportQueryVariables = Exact<{
  id: string | number;
}>;


export type DashboardReportQuery = { eventReport: { ticketsSold: number, ticketsHeld: number, ticketsAvailable: number, capacity: number, revenueCents: number, refundedCents: number, occupancy: number, failedPayments: number, checkedIn: number } };

export type DashboardWaitlistQueryVariables = Exact<{
  ticketTypeId: string | number;
  after?: string | null | undefined;
}>;


export type DashboardWaitlistQuery = { waitlist: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { status: WaitlistStatus, quantity: number } }> } };

export type SummaryFragment = { ticketsSold: number, ticketsHeld: number, ticketsAvailable: number, capacity: number, revenueCents: number, refundedCents: number, occupancy: number, failedPayments: number, checkedIn: number };

export type SeatMapSectionsFragment = { sections: Array<{ name: string, rows: Array<{ label: string, seats: Array<{ id: string, label: string, status: SeatStatus }> }> }> };

export type SeatStateFragment = { id: string, label: string, status: SeatStatus };

export type DashboardReportsSubscriptionVariables = Exact<{
  eventId: string | number;
  after?: string | null | undefined;
}>;


export type DashboardReportsSubscription = { transactionReports: { cursor: string, summary: { ticketsSold: number, ticketsHeld: number, ticketsAvailable: number, capacity: number, revenueCents: number, refundedCents: number, occupancy: number, failedPayments: number, checkedIn: number }, transaction: { id: string, kind: TransactionKind, status: TransactionStatus, method: PaymentMethod | null, amountCents: number, createdAt: string, failureReason: string | null, buyer: { username: string } } } };

export type DashboardAvailabilitySubscriptionVariables = Exact<{
  eventId: string | number;
}>;


export type DashboardAvailabilitySubscription = { eventAvailability: { available: number, ticketTypes: Array<{ ticketTypeId: string, name: string, capacity: number, available: number }> } };

export type DashboardSeatMapSubscriptionVariables = Exact<{
  eventId: string | number;
}>;


export type DashboardSeatMapSubscription = { seatMapUpdates: { seats: Array<{ id: string, label: string, status: SeatStatus }> } };

export type DashboardCheckInsSubscriptionVariables = Exact<{
  eventId: string | number;
}>;


export type DashboardCheckInsSubscription = { checkIns: { status: CheckInStatus, checkedInAt: string | null, message: string, ticket: { id: string, holder: { username: string } } | null } };

export type DashboardMyTicketsQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type DashboardMyTicketsQuery = { myCalendarUrl: string, myTickets: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { id: string, status: TicketStatus, qrSvg: string, holderName: string | null, checkedInAt: string | null, ticketType: { name: string, priceCents: number }, seat: { label: string } | null, event: { id: string, title: string, startsAt: string, venue: string | null, status: EventStatus } } }> } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const SessionFragmentDoc = new TypedDocumentString(`
    fragment Session on AuthPayload {
  accessToken
  refreshToken
  expiresAt
  user {
    id
    username
    role
  }
}
    `, {"fragmentName":"Session"}) as unknown as TypedDocumentString<SessionFragment, unknown>;
export const SummaryFragmentDoc = new TypedDocumentString(`
    fragment Summary on EventSummary {
  ticketsSold
  ticketsHeld
  ticketsAvailable
  capacity
  revenueCents
  refundedCents
  occupancy
  failedPayments
  checkedIn
}
    `, {"fragmentName":"Summary"}) as unknown as TypedDocumentString<SummaryFragment, unknown>;
export const SeatStateFragmentDoc = new TypedDocumentString(`
    fragment SeatState on Seat {
  id
  label
  status
}
    `, {"fragmentName":"SeatState"}) as unknown as TypedDocumentString<SeatStateFragment, unknown>;
export const SeatMapSectionsFragmentDoc = new TypedDocumentString(`
    fragment SeatMapSections on SeatMap {
  sections {
    name
    rows {
      label
      seats {
        ...SeatState
      }
    }
  }
}
    fragment SeatState on Seat {
  id
  label
  status
}`, {"fragmentName":"SeatMapSections"}) as unknown as TypedDocumentString<SeatMapSectionsFragment, unknown>;
export const DashboardSalesHistoryDocument = new TypedDocumentString(`
    query DashboardSalesHistory($eventId: ID!) {
  analytics(filter: {eventId: $eventId}) {
    ticketsSold
    revenueCents
    salesOverTime(bucket: HOUR) {
      start
      ticketsSold
      revenueCents
    }
  }
  eventReport(eventId: $eventId) {
    ticketsSold
    revenueCents
  }
}
    `) as unknown as TypedDocumentString<DashboardSalesHistoryQuery, DashboardSalesHistoryQueryVariables>;
export const DashboardLoginDocument = new TypedDocumentString(`
    mutation DashboardLogin($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    ...Session
  }
}
    fragment Session on AuthPayload {
  accessToken
  refreshToken
  expiresAt
  user {
    id
    username
    role
  }
}`) as unknown as TypedDocumentString<DashboardLoginMutation, DashboardLoginMutationVariables>;
export const DashboardRefreshDocument = new TypedDocumentString(`
    mutation DashboardRefresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) {
    ...Session
  }
}
    fragment Session on AuthPayload {
  accessToken
  refreshToken
  expiresAt
  user {
    id
    username
    role
  }
}`) as unknown as TypedDocumentString<DashboardRefreshMutation, DashboardRefreshMutationVariables>;
export const DashboardLogoutDocument = new TypedDocumentString(`
    mutation DashboardLogout($refreshToken: String!) {
  logout(refreshToken: $refreshToken)
}
    `) as unknown as TypedDocumentString<DashboardLogoutMutation, DashboardLogoutMutationVariables>;
export const DashboardEventsDocument = new TypedDocumentString(`
    query DashboardEvents($filter: EventFilter, $after: String) {
  events(first: 100, filter: $filter, after: $after) {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        id
        title
        status
        startsAt
        venue
        capacity
      }
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardEventsQuery, DashboardEventsQueryVariables>;
export const DashboardEventDocument = new TypedDocumentString(`
    query DashboardEvent($id: ID!) {
  event(id: $id) {
    id
    title
    status
    startsAt
    venue
    capacity
    ticketTypes {
      id
      name
      priceCents
      capacity
      available
    }
    seatMap {
      ...SeatMapSections
    }
  }
  eventReport(eventId: $id) {
    ...Summary
  }
}
    fragment Summary on EventSummary {
  ticketsSold
  ticketsHeld
  ticketsAvailable
  capacity
  revenueCents
  refundedCents
  occupancy
  failedPayments
  checkedIn
}
fragment SeatMapSections on SeatMap {
  sections {
    name
    rows {
      label
      seats {
        ...SeatState
      }
    }
  }
}
fragment SeatState on Seat {
  id
  label
  status
}`) as unknown as TypedDocumentString<DashboardEventQuery, DashboardEventQueryVariables>;
export const DashboardReportDocument = new TypedDocumentString(`
    query DashboardReport($id: ID!) {
  eventReport(eventId: $id) {
    ...Summary
  }
}
    fragment Summary on EventSummary {
  ticketsSold
  ticketsHeld
  ticketsAvailable
  capacity
  revenueCents
  refundedCents
  occupancy
  failedPayments
  checkedIn
}`) as unknown as TypedDocumentString<DashboardReportQuery, DashboardReportQueryVariables>;
export const DashboardWaitlistDocument = new TypedDocumentString(`
    query DashboardWaitlist($ticketTypeId: ID!, $after: String) {
  waitlist(ticketTypeId: $ticketTypeId, first: 100, after: $after) {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        status
        quantity
      }
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardWaitlistQuery, DashboardWaitlistQueryVariables>;
export const DashboardReportsDocument = new TypedDocumentString(`
    subscription DashboardReports($eventId: ID!, $after: String) {
  transactionReports(eventId: $eventId, after: $after) {
    cursor
    summary {
      ...Summary
    }
    transaction {
      id
      kind
      status
      method
      amountCents
      createdAt
      failureReason
      buyer {
        username
      }
    }
  }
}
    fragment Summary on EventSummary {
  ticketsSold
  ticketsHeld
  ticketsAvailable
  capacity
  revenueCents
  refundedCents
  occupancy
  failedPayments
  checkedIn
}`) as unknown as TypedDocumentString<DashboardReportsSubscription, DashboardReportsSubscriptionVariables>;
export const DashboardAvailabilityDocument = new TypedDocumentString(`
    subscription DashboardAvailability($eventId: ID!) {
  eventAvailability(eventId: $eventId) {
    available
    ticketTypes {
      ticketTypeId
      name
      capacity
      available
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardAvailabilitySubscription, DashboardAvailabilitySubscriptionVariables>;
export const DashboardSeatMapDocument = new TypedDocumentString(`
    subscription DashboardSeatMap($eventId: ID!) {
  seatMapUpdates(eventId: $eventId) {
    seats {
      ...SeatState
    }
  }
}
    fragment SeatState on Seat {
  id
  label
  status
}`) as unknown as TypedDocumentString<DashboardSeatMapSubscription, DashboardSeatMapSubscriptionVariables>;
export const DashboardCheckInsDocument = new TypedDocumentString(`
    subscription DashboardCheckIns($eventId: ID!) {
  checkIns(eventId: $eventId) {
    status
    checkedInAt
    message
    ticket {
      id
      holder {
        username
      }
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardCheckInsSubscription, DashboardCheckInsSubscriptionVariables>;
export const DashboardMyTicketsDocument = new TypedDocumentString(`
    query DashboardMyTickets($after: String) {
  myTickets(first: 50, after: $after) {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        id
        status
        qrSvg
        holderName
        checkedInAt
        ticketType {
          name
          priceCents
        }
        seat {
          label
        }
        event {
          id
          title
          startsAt
          venue
          status
        }
      }
    }
  }
  myCalendarUrl
}
    `) as unknown as TypedDocumentString<DashboardMyTicketsQuery, DashboardMyTicketsQueryVariables>;