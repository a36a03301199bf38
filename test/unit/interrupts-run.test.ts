import { interruptSuite } from './interrupts.js';

interruptSuite('run');
