#!/usr/bin/env node
// Writes the example inputs in this folder: `node examples/generate.mjs`. Deterministic (a seeded
// generator), so the committed files only change when this script does. The texts are made up for
// Sluice's examples: fictional companies, people and tickets.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
let seed = 20261121;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (list) => list[Math.floor(random() * list.length)];
const jsonl = (rows) => rows.map((row) => JSON.stringify(row)).join('\n') + '\n';
const csvCell = (value) => (/[",\n]/.test(String(value)) ? `"${String(value).replace(/"/g, '""')}"` : String(value));
const csv = (rows) => {
  const columns = Object.keys(rows[0]);
  return [columns.join(','), ...rows.map((row) => columns.map((c) => csvCell(row[c])).join(','))].join('\n') + '\n';
};

const products = [
  'the mobile app',
  'the web dashboard',
  'the reporting module',
  'the API',
  'the billing portal',
  'the desktop client',
];
const companies = [
  'Acme Corp',
  'Globex Ltd',
  'Initech LLC',
  'Umbrella Health',
  'Northwind Traders',
  'Contoso GmbH',
  'Hooli Inc.',
  'Stark Logistics',
  'Wayne Foods',
  'Tyrell Systems',
  'Soylent Farms',
  'Cyberdyne Robotics',
];
const people = [
  'Maria Lopez',
  'Sarah Chen',
  'Tomás Novak',
  'Aisha Bello',
  'Kenji Watanabe',
  'Priya Raman',
  'Lukas Weber',
  'Emma Dubois',
  'Omar Haddad',
  'Grace Kim',
];
const months = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const ticketTemplates = {
  billing: [
    'I was charged twice for my {plan} subscription this month. Please refund the duplicate payment.',
    'My invoice #{n} shows the wrong VAT number for our company.',
    'Why was my card declined when I tried to upgrade to the {plan} plan?',
    'We cancelled before the renewal date but were still charged {amount} USD.',
    'The price on my last invoice does not match the quote we signed.',
  ],
  bug: [
    '{product} crashes every time I export a report to PDF.',
    'Login fails with error 500 since this morning on {product}.',
    '{product} freezes when I upload a photo larger than 5 MB.',
    'Saved filters disappear after I refresh {product}.',
    'Notifications from {product} arrive twice, sometimes three times.',
  ],
  feature_request: [
    'Could you add dark mode to {product}?',
    'It would be great to schedule reports weekly instead of only daily.',
    'Please support exporting data as CSV from {product}.',
    'We would love single sign-on with our identity provider.',
    'Can you add an option to bulk-edit tags in {product}?',
  ],
  account: [
    'I cannot reset my password; the email never arrives.',
    'Please transfer ownership of our workspace to {person}.',
    'How do I remove a former employee from our team account?',
    'Our admin left the company and we are locked out of the settings.',
    'I need to change the email address on my account.',
  ],
};
const fill = (template, n) =>
  template
    .replace('{plan}', pick(['Pro', 'Team', 'Business', 'Starter']))
    .replace('{n}', String(10000 + n))
    .replace('{amount}', String(19 + Math.floor(random() * 480)))
    .replace('{product}', pick(products))
    .replace('{person}', pick(people))
    .replace(/^(the [a-z])/, (m) => m[0].toUpperCase() + m.slice(1));

// Support tickets to classify (operations: label / classify).
const tickets = Array.from({ length: 300 }, (_, i) => {
  const category = pick(Object.keys(ticketTemplates));
  const text = fill(pick(ticketTemplates[category]), i);
  return {
    id: `ticket-${i + 1}`,
    content: text.charAt(0).toUpperCase() + text.slice(1),
    channel: pick(['email', 'chat', 'phone']),
    tier: pick(['free', 'pro', 'enterprise']),
  };
});
writeFileSync(join(here, 'support-tickets.jsonl'), jsonl(tickets));
writeFileSync(join(here, 'support-tickets.csv'), csv(tickets));

// Contract snippets to extract from (operations: extract).
const contracts = Array.from({ length: 200 }, (_, i) => {
  const [a, b] = [pick(companies), pick(companies.filter((c) => c !== companies[i % companies.length]))];
  const amount = (5 + Math.floor(random() * 500)) * 1000;
  const currency = pick(['USD', 'EUR', 'GBP']);
  const date = `${pick(months)} ${1 + Math.floor(random() * 28)}, 2027`;
  const signer = pick(people);
  const body = pick([
    `This Agreement is made between ${a} ("Client") and ${b} ("Supplier"). The Client shall pay ${amount.toLocaleString('en-US')} ${currency} within 30 days of delivery, no later than ${date}. Signed for the Client by ${signer}.`,
    `${b} agrees to deliver ${10 + Math.floor(random() * 990)} units to ${a} by ${date} for a total of ${amount.toLocaleString('en-US')} ${currency}. Either party may terminate with 60 days' notice. Contact: ${signer}.`,
    `Statement of work: ${a} engages ${b} for consulting services at ${100 + Math.floor(random() * 150)} ${currency} per hour, capped at ${amount.toLocaleString('en-US')} ${currency}. Work starts ${date}. Approved by ${signer}.`,
  ]);
  return { id: `contract-${i + 1}`, content: body };
});
writeFileSync(join(here, 'contracts.jsonl'), jsonl(contracts));

// Call transcripts to summarize (operations: summarize).
const issues = [
  'the nightly sync failed three times',
  'report generation takes over ten minutes',
  'invoices were sent to the wrong address',
  "the new dashboard is missing last month's data",
  'two users cannot log in after the password policy change',
];
const fixes = [
  'rotated an expired API token',
  'added an index and moved the job off peak hours',
  'corrected the billing contact and resent the invoices',
  'restored the data from the backup',
  'reset the accounts and shortened the policy rollout',
];
const transcripts = Array.from({ length: 200 }, (_, i) => {
  const k = Math.floor(random() * issues.length);
  const agent = pick(people);
  const customer = pick(people.filter((p) => p !== agent));
  const company = pick(companies);
  return {
    id: `call-${i + 1}`,
    content: `Agent (${agent}): Thanks for calling, how can I help? Customer (${customer}, ${company}): This week ${issues[k]}, and our team is blocked. Agent: I see it in the logs. We ${fixes[k]}, which should solve it. Customer: Will it happen again? Agent: We added monitoring and I will follow up on ${pick(['Monday', 'Tuesday', 'Thursday'])}. Customer: Please also send a written summary to our manager. Agent: I will, today.`,
    duration_s: 120 + Math.floor(random() * 900),
  };
});
writeFileSync(join(here, 'transcripts.jsonl'), jsonl(transcripts));

// Companies to enrich (operations: enrich).
const companyRows = Array.from({ length: 200 }, (_, i) => ({
  id: `company-${i + 1}`,
  content: `${pick(companies).split(' ')[0]}${pick(['soft', 'ly', 'io', 'labs', 'works'])}: ${pick(['B2B SaaS for logistics', 'consumer fintech app', 'healthcare analytics platform', 'e-commerce marketplace', 'industrial IoT hardware'])}, ${pick([12, 45, 180, 500, 2300, 12000])} employees, ${pick(['seed funded', 'Series A', 'Series C', 'publicly listed', 'bootstrapped'])}, headquartered in ${pick(['Berlin', 'Austin', 'Singapore', 'Lagos', 'Toronto', 'Lyon'])}.`,
}));
writeFileSync(join(here, 'companies.csv'), csv(companyRows));

// A mixed domain batch (POST /v1/batches, model = extract | summarize | classify).
const domain = Array.from({ length: 300 }, (_, i) => {
  switch (i % 3) {
    case 0:
      return {
        custom_id: `classify-${i}`,
        body: { model: 'classify', text: tickets[i % tickets.length].content, labels: Object.keys(ticketTemplates) },
      };
    case 1:
      return {
        custom_id: `extract-${i}`,
        body: {
          model: 'extract',
          text: contracts[i % contracts.length].content,
          entities: [
            'company',
            { name: 'amount', description: 'money amounts with their currency' },
            { name: 'date', description: 'calendar dates' },
            'person',
          ],
        },
      };
    default:
      return {
        custom_id: `summarize-${i}`,
        body: {
          model: 'summarize',
          text: transcripts[i % transcripts.length].content,
          instructions: 'One sentence for the support lead: the problem and the fix.',
          max_tokens: 80,
        },
      };
  }
});
writeFileSync(join(here, 'domain-mixed.jsonl'), jsonl(domain));

// An OpenAI batch input file (POST /v1/files + POST /v1/batches, endpoint /v1/chat/completions).
const openai = tickets.slice(0, 200).map((ticket) => ({
  custom_id: ticket.id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'Draft a short, friendly first reply to this support ticket.' },
      { role: 'user', content: ticket.content },
    ],
    max_tokens: 120,
  },
}));
writeFileSync(join(here, 'openai-batch.jsonl'), jsonl(openai));
console.log('wrote the examples');
