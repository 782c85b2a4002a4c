// Example variables for the saved operations, keyed by file name without `.graphql`: the values
// of playground/README.md's walk-through. `<…>` marks what to paste from an earlier answer.
// An operation missing here opens with `{}`.

const inAYear = new Date(Date.now() + 365 * 24 * 3600 * 1000);
inAYear.setUTCHours(18, 0, 0, 0);
const startsAt = inAYear.toISOString().replace('.000Z', 'Z');
const endsAt = new Date(inAYear.getTime() + 3 * 3600 * 1000).toISOString().replace('.000Z', 'Z');

export const EXAMPLE_VARIABLES = {
  register: {
    input: {
      username: 'alice',
      password: 'correct-horse-battery',
      email: 'alice@example.com',
      role: 'ORGANIZER',
    },
  },
  login: { username: 'alice', password: 'correct-horse-battery' },
  refreshToken: { refreshToken: '<refreshToken>' },
  logout: { refreshToken: '<refreshToken>' },
  createEvent: {
    input: {
      title: 'Rust Meetup',
      description: 'Talks about async Rust and GraphQL.',
      venue: 'Main Hall',
      startsAt,
      endsAt,
      ticketTypes: [
        { name: 'General admission', priceCents: 1500, capacity: 100 },
        { name: 'VIP', priceCents: 5000, capacity: 10 },
      ],
    },
  },
  publishEvent: { id: '<event id>' },
  updateEvent: { id: '<event id>', input: { venue: 'Room B' } },
  cancelEvent: { id: '<event id>' },
  addSession: {
    eventId: '<event id>',
    input: {
      startsAt: new Date(inAYear.getTime() + 24 * 3600 * 1000).toISOString().replace('.000Z', 'Z'),
      endsAt: new Date(inAYear.getTime() + 27 * 3600 * 1000).toISOString().replace('.000Z', 'Z'),
      ticketTypes: [{ name: 'Day two', priceCents: 1500, capacity: 100 }],
    },
  },
  cancelSession: { sessionId: '<session id>' },
  calendar: {
    from: new Date(Date.UTC(inAYear.getUTCFullYear(), inAYear.getUTCMonth(), 1)).toISOString(),
    to: new Date(Date.UTC(inAYear.getUTCFullYear(), inAYear.getUTCMonth() + 1, 1)).toISOString(),
    filter: { categories: ['music'] },
  },
  event: { id: '<event id>' },
  events: { filter: { search: 'meetup', onlyAvailable: true }, first: 10 },
  topUpWallet: { amountCents: 5000, idempotencyKey: 'bob-topup-1' },
  wallet: { first: 20 },
  adjustWallet: { userId: '<user id>', amountCents: 500, reason: 'goodwill: the doors opened late' },
  reserve: {
    input: { ticketTypeId: '<ticket type id>', quantity: 2, idempotencyKey: 'bob-reserve-1' },
  },
  pay: { reservationId: '<reservation id>', idempotencyKey: 'bob-pay-1', method: 'WALLET' },
  reservation: { id: '<reservation id>' },
  cancelReservation: { id: '<reservation id>' },
  myReservations: { first: 10 },
  eventReport: { eventId: '<event id>' },
  transactions: { eventId: '<event id>', first: 20 },
  transactionReports: { eventId: '<event id>' },
  eventAvailability: { eventId: '<event id>' },
  createVenue: {
    input: {
      name: 'Grand Theatre',
      sections: [
        { name: 'Stalls', rows: [{ label: 'A', seats: 12 }, { label: 'B', seats: 14 }] },
        { name: 'Balcony', rows: [{ label: 'A', seats: 10 }] },
      ],
    },
  },
  venues: { first: 10 },
  seatMap: { id: '<event id>' },
  seatMapUpdates: { eventId: '<event id>' },
  blockSeats: { eventId: '<event id>', seatIds: ['<seat id>'], blocked: true },
  joinWaitlist: { ticketTypeId: '<ticket type id>', quantity: 2 },
  myWaitlistEntries: { first: 10 },
  leaveWaitlist: { id: '<waitlist entry id>' },
  waitlistUpdates: { entryId: '<waitlist entry id>' },
  setCancellationPolicy: {
    eventId: '<event id>',
    input: {
      rules: [
        { hoursBeforeStart: 72, refundPercent: 100 },
        { hoursBeforeStart: 24, refundPercent: 50 },
        { hoursBeforeStart: 0, refundPercent: 0 },
      ],
      feeCents: 0,
    },
  },
  refundQuote: { reservationId: '<reservation id>' },
  transferTicket: { ticketId: '<ticket id>', toUsername: 'carol' },
  myTickets: { first: 10 },
  checkIn: { eventId: '<event id>', code: '<ticket code>' },
  attendees: { eventId: '<event id>', search: '', first: 20 },
  checkIns: { eventId: '<event id>' },
};
