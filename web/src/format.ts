/** How figures and dates read on the page (as on the seed page: "3,937", "March 26, 2011"). */
const numbers = new Intl.NumberFormat('en-US');
const dates = new Intl.DateTimeFormat('en-US', {
  year: 'numeric',
  month: 'long',
  day: 'numeric',
  timeZone: 'UTC',
});

export const count = (n: number): string => numbers.format(n);

export const counted = (n: number, one: string, many: string): string =>
  `${count(n)} ${n === 1 ? one : many}`;

export const longDate = (iso: string): string => dates.format(new Date(iso));

export const stars = (n: number): string => counted(n, 'star', 'stars');
